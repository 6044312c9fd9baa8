using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>Several matmuls over one input (a layer's Q/K/V projections, or gate and up) as one job for the pool:
/// the row chunks of every matrix are numbered one after another, so a single dispatch covers them all and the
/// input stays in the caches between them.</summary>
/// <remarks>Each matrix keeps its own <see cref="CpuMatMul"/> (its own fields and quantized activations), so the
/// chunks of different matrices can run at the same time; a group too small to pay for a dispatch runs on the
/// calling thread alone, as a single matmul does. Not re-entrant: one group per backend, used by one caller.</remarks>
internal sealed class CpuMatMulGroup : ParallelJob, IDisposable
{
    /// <summary>Most matrices in one group.</summary>
    public const int MaxMatrices = 4;

    private readonly WorkerPool _pool;
    private readonly CpuMatMul[] _parts;
    private readonly int[] _firstChunk = new int[MaxMatrices + 1]; // chunk index where part i starts; [count] = total

    public CpuMatMulGroup(WorkerPool pool, bool forceScalar, bool forceAvx2)
    {
        _pool = pool;
        _parts = new CpuMatMul[MaxMatrices];
        for (int i = 0; i < MaxMatrices; i++) _parts[i] = new CpuMatMul(pool, forceScalar, forceAvx2);
    }

    /// <summary>outputs[i] = x · weights[i]ᵀ for the first <paramref name="rows"/> rows.</summary>
    public void Run(CpuTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> outputs, int rows)
    {
        if (weights.Length != outputs.Length) throw new ArgumentException($"matmul group: {weights.Length} weights but {outputs.Length} outputs");
        if (weights.Length > MaxMatrices) throw new ArgumentException($"matmul group: at most {MaxMatrices} matrices, got {weights.Length}");
        int count = 0;
        long work = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (!_parts[count].Prepare(x, CpuBackend.Cast(weights[i]), CpuBackend.Cast(outputs[i]), rows)) continue;
            work += _parts[count].Work;
            count++;
        }
        if (count == 0) return;
        int threads = _pool.ThreadCount;
        if (threads == 1 || work < CpuMatMul.SmallWork)
        {
            for (int i = 0; i < count; i++) _parts[i].RunInline();
            return;
        }
        int chunks = 0;
        for (int i = 0; i < count; i++)
        {
            _firstChunk[i] = chunks;
            chunks += _parts[i].Split(threads);
        }
        _firstChunk[count] = chunks;
        _pool.Run(this, chunks);
    }

    /// <inheritdoc />
    public override void Execute(int index)
    {
        int part = 0;
        while (index >= _firstChunk[part + 1]) part++;
        _parts[part].Execute(index - _firstChunk[part]);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var p in _parts) p.Dispose();
    }
}
