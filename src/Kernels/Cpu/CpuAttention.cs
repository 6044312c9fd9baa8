using System.Numerics.Tensors;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>Grouped-query attention over the KV cache, one work item per (token, head). A token
/// attends to the committed prefix and then to its own ancestors in the batch, found by walking the
/// parent array, so causal chains and token trees share one kernel and no mask is materialised.</summary>
internal sealed unsafe class CpuAttention : ParallelJob
{
    private readonly WorkerPool _pool;
    private float* _q;
    private float* _k;
    private float* _v;
    private float* _out;
    private int _heads;
    private int _kvHeads;
    private int _headDim;
    private int _prefix;
    private int[] _parents = new int[64];
    private int _count;

    [ThreadStatic] private static float[]? t_scores;
    [ThreadStatic] private static int[]? t_slots;

    public CpuAttention(WorkerPool pool) => _pool = pool;

    public void Run(CpuTensor q, CpuTensor keys, CpuTensor values, CpuTensor output, int heads, int kvHeads, int headDim, AttentionBatch batch)
    {
        if (heads % kvHeads != 0) throw new ArgumentException($"{heads} heads are not a multiple of {kvHeads} KV heads");
        if (batch.PrefixLength + batch.Count > keys.Rows) throw new ArgumentException($"attention: {batch.PrefixLength} + {batch.Count} tokens exceed the cache capacity {keys.Rows}");
        _q = (float*)q.Pointer;
        _k = (float*)keys.Pointer;
        _v = (float*)values.Pointer;
        _out = (float*)output.Pointer;
        _heads = heads;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _prefix = batch.PrefixLength;
        _count = batch.Count;
        if (_parents.Length < _count) _parents = new int[_count];
        batch.Parents.CopyTo(_parents);
        _pool.Run(this, _count * heads);
    }

    public override void Execute(int index)
    {
        int row = index / _heads;
        int head = index % _heads;
        int hd = _headDim;
        int kvDim = _kvHeads * hd;
        int kvHead = head / (_heads / _kvHeads);
        float scale = 1f / MathF.Sqrt(hd);

        // Visible batch slots: the token itself and its ancestors (collected leaf-first).
        int[] slots = t_slots is { } ts && ts.Length >= _count ? ts : (t_slots = new int[Math.Max(_count, 64)]);
        int own = 0;
        for (int j = row; j >= 0; j = _parents[j]) slots[own++] = _prefix + j;

        int visible = _prefix + own;
        float[] scores = t_scores is { } s && s.Length >= visible ? s : (t_scores = new float[Math.Max(visible, 256)]);
        var query = new ReadOnlySpan<float>(_q + (long)row * _heads * hd + head * hd, hd);
        float* kBase = _k + kvHead * hd;
        for (int t = 0; t < _prefix; t++)
            scores[t] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(kBase + (long)t * kvDim, hd)) * scale;
        for (int a = 0; a < own; a++)
            scores[_prefix + a] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(kBase + (long)slots[a] * kvDim, hd)) * scale;

        Span<float> p = scores.AsSpan(0, visible);
        // TensorPrimitives.SoftMax does not subtract the maximum, and real models produce scores
        // above 88 where exp overflows: shift first for a stable softmax.
        TensorPrimitives.Subtract(p, TensorPrimitives.Max(p), p);
        TensorPrimitives.Exp(p, p);
        TensorPrimitives.Multiply(p, 1f / TensorPrimitives.Sum(p), p);

        var output = new Span<float>(_out + (long)row * _heads * hd + head * hd, hd);
        output.Clear();
        float* vBase = _v + kvHead * hd;
        for (int t = 0; t < _prefix; t++)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vBase + (long)t * kvDim, hd), p[t], output, output);
        for (int a = 0; a < own; a++)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vBase + (long)slots[a] * kvDim, hd), p[_prefix + a], output, output);
    }
}
