using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>The reference backend: SIMD kernels on host memory, work split over a persistent pool of
/// threads. Weights in host memory (memory-mapped or converted) are used in place, never copied.
/// NativeAOT-safe.</summary>
public sealed unsafe class CpuBackend : IBackend
{
    private readonly WorkerPool _pool;
    private readonly CpuMatMul _matMul;
    private readonly CpuMatMulGroup _matMulGroup;
    private readonly CpuAttention _attention;
    private readonly bool _simd;
    private Sampler? _sampler; // scratch of SampleTokens, kept while the vocabulary and options stay the same

    /// <summary>Creates a backend running on <paramref name="threads"/> threads (default: all cores).</summary>
    public CpuBackend(int? threads = null) : this(threads, forceScalar: false)
    {
    }

    /// <summary>Creates a backend; <paramref name="forceScalar"/> selects the portable fallback kernels
    /// even where AVX-512 is present, <paramref name="forceAvx2"/> the AVX2 matmul kernels (tests cover
    /// every path on any machine that can run it).</summary>
    internal CpuBackend(int? threads, bool forceScalar, bool forceAvx2 = false)
    {
        ForceScalar = forceScalar;
        _simd = !forceScalar && Vector512.IsHardwareAccelerated;
        int n = threads ?? WorkerPool.DefaultThreadCount;
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(threads), n, "thread count must be at least 1");
        _pool = new WorkerPool(n);
        _matMul = new CpuMatMul(_pool, forceScalar, forceAvx2);
        _matMulGroup = new CpuMatMulGroup(_pool, forceScalar, forceAvx2);
        _attention = new CpuAttention(_pool, forceScalar);
    }

    /// <summary>True when the portable fallback kernels are used instead of the AVX-512 ones.</summary>
    internal bool ForceScalar { get; }

    /// <summary>Threads used by kernels.</summary>
    public int Threads => _pool.ThreadCount;

    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    public string Description => $"CPU, {Threads} thread(s), {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "scalar")}";

    /// <inheritdoc />
    public bool SupportsF16KvCache => true;

    /// <inheritdoc />
    /// <remarks>Weights are used in place, except Q8_0 and Q4_0 matrices, which are copied once into the row-interleaved
    /// layout of the int8 kernels (<see cref="PackedQuantLayout"/>; the copy is the same size, up to 63 bytes per 8 rows,
    /// and the source may be freed afterwards).</remarks>
    public DeviceTensor UploadWeight(HostTensor weight)
    {
        if (PackedQuantLayout.Holds(weight.DType) && weight.Shape.Length == 2 && weight.Cols % DTypeInfo.Q8BlockSize == 0)
            return new CpuTensor(weight.DType, weight.Shape, PackedQuantLayout.Pack(weight.DType, (byte*)weight.Pointer, weight.Rows, weight.Cols), rowInterleaved: true);
        return new CpuTensor(weight.DType, weight.Shape, weight.Pointer);
    }

    /// <inheritdoc />
    public DeviceTensor Allocate(DType dtype, params int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        return new CpuTensor(dtype, shape, new NativeBuffer(dtype.ByteSize(n)));
    }

    /// <inheritdoc />
    public void Write(DeviceTensor destination, ReadOnlySpan<float> source, long offset = 0)
    {
        var t = Cast(destination);
        if (offset < 0 || offset + source.Length > t.ElementCount) throw new ArgumentOutOfRangeException(nameof(offset));
        source.CopyTo(new Span<float>((float*)t.Pointer + offset, source.Length));
    }

    /// <inheritdoc />
    public void Read(DeviceTensor source, Span<float> destination, long offset = 0)
    {
        var t = Cast(source);
        if (offset < 0 || offset + destination.Length > t.ElementCount) throw new ArgumentOutOfRangeException(nameof(offset));
        new ReadOnlySpan<float>((float*)t.Pointer + offset, destination.Length).CopyTo(destination);
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Embed(DeviceTensor table, ReadOnlySpan<int> tokens, DeviceTensor output)
    {
        var t = Cast(table);
        var o = Cast(output);
        int dim = t.Cols;
        for (int i = 0; i < tokens.Length; i++)
        {
            int id = tokens[i];
            if ((uint)id >= (uint)t.Rows) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} is outside the vocabulary (0..{t.Rows - 1})");
            Span<float> dst = o.Row(i);
            if (t.RowInterleaved)
            {
                PackedQuantLayout.DequantizeRow(t.DType, (byte*)t.Pointer, id, dim, dst.Slice(0, dim));
                continue;
            }
            switch (t.DType)
            {
                case DType.F32:
                    new ReadOnlySpan<float>((float*)t.Pointer + (long)id * dim, dim).CopyTo(dst);
                    break;
                case DType.BF16:
                    WideningKernels.BF16ToF32(new ReadOnlySpan<ushort>((ushort*)t.Pointer + (long)id * dim, dim), dst);
                    break;
                case DType.F16:
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)t.Pointer + (long)id * dim, dim), dst);
                    break;
                case DType.Q8_0:
                    Q8Format.DequantizeRow((byte*)t.Pointer + id * DType.Q8_0.ByteSize(dim), dst.Slice(0, dim));
                    break;
                case DType.Q4_0:
                    Q4Format.DequantizeRow((byte*)t.Pointer + id * DType.Q4_0.ByteSize(dim), dst.Slice(0, dim));
                    break;
                default:
                    throw new NotSupportedException($"embedding lookup on {t.DType} is not supported");
            }
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void RmsNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows, float eps)
    {
        var xt = Cast(x);
        var wt = Cast(weight);
        var ot = Cast(output);
        ReadOnlySpan<float> w = wt.F32;
        int dim = xt.Cols;
        if (w.Length != dim || ot.Cols != dim) throw new ArgumentException($"RmsNorm: x has {dim} columns, weight {w.Length}, output {ot.Cols}");
        for (int r = 0; r < rows; r++)
            RmsNormRow((float*)xt.Pointer + (long)r * dim, (float*)wt.Pointer, (float*)ot.Pointer + (long)r * dim, dim, eps);
    }

    /// <summary>o = x / rms(x) * w over n values (o may be x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RmsNormRow(float* x, float* w, float* o, int n, float eps)
    {
        if (_simd)
        {
            SimdMath.RmsNorm(x, w, o, n, eps);
            return;
        }
        var src = new ReadOnlySpan<float>(x, n);
        float scale = 1f / MathF.Sqrt(TensorPrimitives.Dot(src, src) / n + eps);
        var dst = new Span<float>(o, n);
        TensorPrimitives.Multiply(src, scale, dst);
        TensorPrimitives.Multiply(dst, new ReadOnlySpan<float>(w, n), dst);
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void HeadRmsNorm(DeviceTensor x, DeviceTensor weight, int rows, int heads, float eps)
    {
        var xt = Cast(x);
        var wt = Cast(weight);
        int headDim = (int)wt.ElementCount;
        if (heads * headDim > xt.Cols) throw new ArgumentException($"HeadRmsNorm: {heads} heads of {headDim} exceed the {xt.Cols} columns of x");
        if (rows > xt.Rows) throw new ArgumentOutOfRangeException(nameof(rows));
        for (int r = 0; r < rows; r++)
        {
            for (int h = 0; h < heads; h++)
            {
                float* v = (float*)xt.Pointer + (long)r * xt.Cols + h * headDim;
                RmsNormRow(v, (float*)wt.Pointer, v, headDim, eps);
            }
        }
    }

    /// <inheritdoc />
    public void AddBias(DeviceTensor x, DeviceTensor bias, int rows)
    {
        var xt = Cast(x);
        var bt = Cast(bias);
        if (bt.ElementCount != xt.Cols) throw new ArgumentException($"AddBias: bias has {bt.ElementCount} values, x has {xt.Cols} columns");
        if (rows > xt.Rows) throw new ArgumentOutOfRangeException(nameof(rows));
        ReadOnlySpan<float> b = bt.F32;
        for (int r = 0; r < rows; r++)
        {
            Span<float> row = xt.Row(r);
            TensorPrimitives.Add(row, b, row);
        }
    }

    /// <inheritdoc />
    public void MatMul(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows) =>
        _matMul.Run(Cast(x), Cast(weight), Cast(output), rows);

    /// <inheritdoc />
    public void MatMulGroup(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> outputs, int rows) =>
        _matMulGroup.Run(Cast(x), weights, outputs, rows);

    /// <inheritdoc />
    public RopeTable CreateRopeTable(ReadOnlySpan<double> inverseFrequencies, int maxPositions) =>
        new CpuRopeTable(inverseFrequencies, maxPositions);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Rope(DeviceTensor x, int rows, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
    {
        var t = Cast(x);
        var rope = (CpuRopeTable)table;
        int half = headDim / 2;
        if (half != rope.HalfDim) throw new ArgumentException($"rope table is for head_dim {rope.HalfDim * 2}, not {headDim}");
        for (int r = 0; r < rows; r++)
        {
            int pos = positions[r];
            if ((uint)pos >= (uint)rope.MaxPositions) throw new ArgumentOutOfRangeException(nameof(positions), $"position {pos} is beyond the rope table ({rope.MaxPositions})");
            ReadOnlySpan<float> cos = rope.Cos.AsSpan(pos * half, half);
            ReadOnlySpan<float> sin = rope.Sin.AsSpan(pos * half, half);
            Span<float> row = t.Row(r);
            for (int h = 0; h < heads; h++)
            {
                Span<float> v = row.Slice(h * headDim, headDim);
                for (int j = 0; j < half; j++)
                {
                    float a = v[j];
                    float b = v[j + half];
                    v[j] = a * cos[j] - b * sin[j];
                    v[j + half] = b * cos[j] + a * sin[j];
                }
            }
        }
    }

    /// <inheritdoc />
    public void CopyRows(DeviceTensor source, int sourceRow, DeviceTensor destination, int destinationRow, int rows)
    {
        var s = Cast(source);
        var d = Cast(destination);
        if (s.Cols != d.Cols) throw new ArgumentException("CopyRows: column counts differ");
        if (sourceRow + rows > s.Rows || destinationRow + rows > d.Rows) throw new ArgumentOutOfRangeException(nameof(rows), "CopyRows: past the end of a tensor");
        if (s.DType != DType.F32 || d.DType is not (DType.F32 or DType.F16)) throw new ArgumentException($"CopyRows: copies F32 rows into F32 or F16, not {s.DType} into {d.DType}");
        var from = new ReadOnlySpan<float>((float*)s.Pointer + (long)sourceRow * s.Cols, rows * s.Cols);
        if (d.DType == DType.F16) TensorPrimitives.ConvertToHalf(from, new Span<Half>((Half*)d.Pointer + (long)destinationRow * d.Cols, rows * d.Cols));
        else from.CopyTo(new Span<float>((float*)d.Pointer + (long)destinationRow * d.Cols, rows * d.Cols));
    }

    /// <inheritdoc />
    public void GatherRows(DeviceTensor tensor, ReadOnlySpan<int> sourceRows, int destinationRow)
    {
        var t = Cast(tensor);
        int rowBytes = checked((int)t.DType.ByteSize(t.Cols));
        for (int i = 0; i < sourceRows.Length; i++)
        {
            int src = sourceRows[i];
            int dst = destinationRow + i;
            if (src < dst) throw new ArgumentException("GatherRows: source rows must be ascending and not before their destination");
            if ((uint)src >= (uint)t.Rows) throw new ArgumentOutOfRangeException(nameof(sourceRows), $"GatherRows: row {src} is past the end");
            if (src != dst) new ReadOnlySpan<byte>((byte*)t.Pointer + (long)src * rowBytes, rowBytes).CopyTo(new Span<byte>((byte*)t.Pointer + (long)dst * rowBytes, rowBytes));
        }
    }

    /// <inheritdoc />
    public void Attention(DeviceTensor q, DeviceTensor keyCache, DeviceTensor valueCache, DeviceTensor output,
        int heads, int kvHeads, int headDim, AttentionBatch batch) =>
        _attention.Run(Cast(q), Cast(keyCache), Cast(valueCache), Cast(output), heads, kvHeads, headDim, batch);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void SwiGlu(DeviceTensor gate, DeviceTensor up, int rows)
    {
        var g = Cast(gate);
        var u = Cast(up);
        if (_simd)
        {
            for (int r = 0; r < rows; r++) SimdMath.SwiGlu((float*)g.Pointer + (long)r * g.Cols, (float*)u.Pointer + (long)r * u.Cols, g.Cols);
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            Span<float> gr = g.Row(r);
            ReadOnlySpan<float> ur = u.Row(r);
            // silu(g) * u = g * sigmoid(g) * u
            TensorPrimitives.Sigmoid(gr, SigmoidScratch(gr.Length));
            TensorPrimitives.Multiply(gr, t_sigmoid!.AsSpan(0, gr.Length), gr);
            TensorPrimitives.Multiply(gr, ur, gr);
        }
    }

    [ThreadStatic] private static float[]? t_sigmoid;

    private static Span<float> SigmoidScratch(int n) =>
        (t_sigmoid is { } s && s.Length >= n ? s : (t_sigmoid = new float[n])).AsSpan(0, n);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(DeviceTensor x, DeviceTensor y, int rows)
    {
        var xt = Cast(x);
        var yt = Cast(y);
        int n = rows * xt.Cols;
        if (_simd)
        {
            SimdMath.Add((float*)xt.Pointer, (float*)yt.Pointer, n);
            return;
        }
        var dst = new Span<float>((float*)xt.Pointer, n);
        TensorPrimitives.Add(dst, new ReadOnlySpan<float>((float*)yt.Pointer, n), dst);
    }

    /// <inheritdoc />
    public void ArgMax(DeviceTensor logits, int rows, Span<int> result)
    {
        var t = Cast(logits);
        for (int r = 0; r < rows; r++) result[r] = Sampler.CheckedArgMax(t.Row(r));
    }

    /// <inheritdoc />
    public void SampleTokens(DeviceTensor logits, int rows, SamplingOptions options, ReadOnlySpan<float> uniforms, Span<int> result)
    {
        var t = Cast(logits);
        if (rows < 0 || rows > t.Rows || result.Length < rows) throw new ArgumentOutOfRangeException(nameof(rows));
        if (options.IsGreedy)
        {
            ArgMax(logits, rows, result);
            return;
        }
        if (uniforms.Length < rows) throw new ArgumentException($"{rows} rows need {rows} uniforms, got {uniforms.Length}", nameof(uniforms));
        Sampler? sampler = _sampler;
        if (sampler == null || sampler.VocabSize != t.Cols || !sampler.Options.Equals(options))
            _sampler = sampler = new Sampler(t.Cols, options);
        for (int r = 0; r < rows; r++) result[r] = sampler.Sample(t.Row(r), uniforms[r]);
    }

    internal static CpuTensor Cast(DeviceTensor t) =>
        t as CpuTensor ?? throw new ArgumentException($"tensor belongs to another backend ({t.GetType().Name}), not the CPU backend");

    /// <inheritdoc />
    public void Dispose()
    {
        _pool.Dispose();
        _matMul.Dispose();
        _matMulGroup.Dispose();
    }
}
