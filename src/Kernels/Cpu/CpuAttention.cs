using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>Grouped-query attention over the KV cache, one work item per (token, head). A token
/// attends to the shared rows and then to its own ancestors in the tree region (earlier tree rows in the
/// cache and the batch), found by walking the parent array, so causal chains and token trees share one
/// kernel and no mask is materialised.
/// Scores use a stable softmax (maximum subtracted before exp). With AVX and a head size that is a
/// multiple of 8, 8 keys are scored at once (horizontal-add transpose) and the weighted sum of values
/// keeps up to 64 dimensions in registers; small calls stay on the calling thread. The cache holds F32 or F16
/// rows; F16 ones are widened in registers as they are read (.NET has no vcvtph2ps intrinsic, so with exact integer
/// arithmetic, <see cref="SimdHalf"/>), which halves the bytes a long context streams.</summary>
internal sealed unsafe class CpuAttention : ParallelJob
{
    /// <summary>Multiply-adds below which attention stays on the calling thread.</summary>
    private const long SmallWork = 32 * 1024;

    private readonly WorkerPool _pool;
    private readonly bool _forceScalar;
    private float* _q;
    private byte* _k;
    private byte* _v;
    private bool _f16Cache;
    private float* _out;
    private int _heads;
    private int _kvHeads;
    private int _headDim;
    private int _prefix;                   // shared rows: every token sees slots [0, _prefix)
    private int _cachedTree;               // tree rows in the cache before the batch; region row r is slot _prefix + r
    private int _window;
    private int[] _parents = new int[64];  // [region rows] parent region row, -1: hangs off the shared rows
    private int _region;
    private int _count;
    private bool _simd;
    private readonly bool _simd512;

    [ThreadStatic] private static float[]? t_scores;
    [ThreadStatic] private static int[]? t_slots;

    public CpuAttention(WorkerPool pool, bool forceScalar)
    {
        _pool = pool;
        _forceScalar = forceScalar;
        _simd512 = !forceScalar && Vector512.IsHardwareAccelerated;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(CpuTensor q, CpuTensor keys, CpuTensor values, CpuTensor output, int heads, int kvHeads, int headDim, AttentionBatch batch)
    {
        if (heads % kvHeads != 0) throw new ArgumentException($"{heads} heads are not a multiple of {kvHeads} KV heads");
        if (batch.PrefixLength + batch.Count > keys.Rows) throw new ArgumentException($"attention: {batch.PrefixLength} + {batch.Count} tokens exceed the cache capacity {keys.Rows}");
        _q = (float*)q.Pointer;
        if (keys.DType != values.DType || keys.DType is not (DType.F32 or DType.F16))
            throw new ArgumentException($"attention: the key and value caches must both be F32 or both F16, got {keys.DType} and {values.DType}");
        _k = (byte*)keys.Pointer;
        _v = (byte*)values.Pointer;
        _f16Cache = keys.DType == DType.F16;
        _out = (float*)output.Pointer;
        _heads = heads;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _prefix = batch.SharedLength;
        _cachedTree = batch.CachedTreeRows;
        _window = batch.Window;
        _count = batch.Count;
        _region = batch.Parents.Length;
        _simd = !_forceScalar && Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0;
        if (_parents.Length < _region) _parents = new int[Math.Max(_region, 2 * _parents.Length)];
        for (int r = 0; r < _region; r++)
        {
            int p = batch.Parents[r];
            if (p >= r || p < -1) throw new ArgumentException($"attention: parent {p} of tree row {r} must be -1 or an earlier row");
            _parents[r] = p;
        }
        int items = _count * heads;
        long work = (long)items * (_prefix + _region) * headDim * 2;
        if (_pool.ThreadCount == 1 || work < SmallWork)
        {
            for (int i = 0; i < items; i++) Execute(i);
        }
        else
        {
            _pool.Run(this, items);
        }
    }

    public override void Execute(int index)
    {
        if (_f16Cache) Execute<F16Loader>(index);
        else Execute<F32Loader>(index);
    }

    /// <summary>One (token, head) item over a cache of <typeparamref name="TL"/> rows (F32, or F16 widened on the fly).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Execute<TL>(int index) where TL : struct, IWeightLoader
    {
        int row = index / _heads;
        int head = index % _heads;
        int hd = _headDim;
        int kvDim = _kvHeads * hd;
        int kvHead = head / (_heads / _kvHeads);
        float scale = 1f / MathF.Sqrt(hd);

        // Visible tree slots: the token itself and its ancestors (collected leaf-first).
        int[] slots = t_slots is { } ts && ts.Length >= _region ? ts : (t_slots = new int[Math.Max(_region, 64)]);
        int own = 0;
        for (int j = _cachedTree + row; j >= 0; j = _parents[j]) slots[own++] = _prefix + j;

        // A sliding window hides shared slots before lo and ancestors more than window − 1 levels up; the
        // cache is then addressed from lo, so the kernels below see a contiguous prefix of `prefix` keys.
        int lo = 0;
        int prefix = _prefix;
        if (_window > 0)
        {
            int position = _prefix + own - 1;
            lo = Math.Max(0, position - _window + 1);
            prefix = Math.Max(0, _prefix - lo);
            own = Math.Min(own, _window);
            for (int a = 0; a < own; a++) slots[a] -= lo;
        }

        int visible = prefix + own;
        float[] scores = t_scores is { } s && s.Length >= visible ? s : (t_scores = new float[Math.Max(visible, 256)]);
        float* query = _q + (long)row * _heads * hd + head * hd;
        nint stride = (nint)kvDim * TL.ElementBytes; // bytes from one cache row to the next
        byte* kBase = _k + ((long)lo * kvDim + kvHead * hd) * TL.ElementBytes;
        byte* vBase = _v + ((long)lo * kvDim + kvHead * hd) * TL.ElementBytes;
        float* output = _out + (long)row * _heads * hd + head * hd;

        fixed (float* p = scores)
        fixed (int* slot = slots)
        {
            if (_simd)
            {
                ScoresRange<TL>(query, kBase, stride, hd, prefix, p, scale);
                for (int a = 0; a < own; a++) p[prefix + a] = Dot8<TL>(query, kBase + slot[a] * stride, hd) * scale;
            }
            else
            {
                var qs = new ReadOnlySpan<float>(query, hd);
                for (int t = 0; t < prefix; t++)
                    p[t] = TensorPrimitives.Dot(qs, CacheRow<TL>(kBase + t * stride, hd)) * scale;
                for (int a = 0; a < own; a++)
                    p[prefix + a] = TensorPrimitives.Dot(qs, CacheRow<TL>(kBase + slot[a] * stride, hd)) * scale;
            }

            // TensorPrimitives.SoftMax does not subtract the maximum, and real models produce scores
            // above 88 where exp overflows: shift first for a stable softmax. The 1/sum is applied to
            // the output instead of every probability.
            float inv;
            if (_simd512)
            {
                inv = 1f / SimdMath.ExpShiftedSum(p, visible);
            }
            else if (_simd)
            {
                inv = 1f / SimdMath.ExpShiftedSum256(p, visible);
            }
            else
            {
                var probs = new Span<float>(p, visible);
                TensorPrimitives.Subtract(probs, TensorPrimitives.Max(probs), probs);
                TensorPrimitives.Exp(probs, probs);
                inv = 1f / TensorPrimitives.Sum(probs);
            }

            if (_simd)
            {
                WeightedValues<TL>(p, vBase, stride, hd, prefix, slot, own, inv, output);
            }
            else
            {
                var o = new Span<float>(output, hd);
                o.Clear();
                for (int t = 0; t < prefix; t++)
                    TensorPrimitives.MultiplyAdd(CacheRow<TL>(vBase + t * stride, hd), p[t], o, o);
                for (int a = 0; a < own; a++)
                    TensorPrimitives.MultiplyAdd(CacheRow<TL>(vBase + slot[a] * stride, hd), p[prefix + a], o, o);
                TensorPrimitives.Multiply(o, inv, o);
            }
        }
    }

    /// <summary>One cache row of hd values as F32: the row itself for an F32 cache, else widened into a per-thread scratch
    /// (the portable path only).</summary>
    private static ReadOnlySpan<float> CacheRow<TL>(byte* row, int hd) where TL : struct, IWeightLoader
    {
        if (typeof(TL) == typeof(F32Loader)) return new ReadOnlySpan<float>(row, hd);
        float[] scratch = t_row is { } r && r.Length >= hd ? r : (t_row = new float[Math.Max(hd, 256)]);
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(row, hd), scratch);
        return scratch.AsSpan(0, hd);
    }

    [ThreadStatic] private static float[]? t_row;

    /// <summary>q · k for hd a multiple of 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Partial8<TL>(float* q, byte* k, int hd) where TL : struct, IWeightLoader
    {
        Vector256<float> acc = Vector256.Load(q) * TL.Load8(k, 0);
        for (int c = 8; c < hd; c += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(q + c), TL.Load8(k, c), acc);
        return acc;
    }

    private static float Dot8<TL>(float* q, byte* k, int hd) where TL : struct, IWeightLoader => Vector256.Sum(Partial8<TL>(q, k, hd));

    /// <summary>dst[t] = (q · key t) * scale for keys t in [0, count), key t at kBase + t * stride bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoresRange<TL>(float* q, byte* kBase, nint stride, int hd, int count, float* dst, float scale) where TL : struct, IWeightLoader
    {
        Vector256<float> sc = Vector256.Create(scale);
        int t = 0;
        for (; t + 8 <= count; t += 8)
        {
            byte* k = kBase + t * stride;
            Vector256<float> h01 = Avx.HorizontalAdd(Partial8<TL>(q, k, hd), Partial8<TL>(q, k + stride, hd));
            Vector256<float> h23 = Avx.HorizontalAdd(Partial8<TL>(q, k + 2 * stride, hd), Partial8<TL>(q, k + 3 * stride, hd));
            Vector256<float> h45 = Avx.HorizontalAdd(Partial8<TL>(q, k + 4 * stride, hd), Partial8<TL>(q, k + 5 * stride, hd));
            Vector256<float> h67 = Avx.HorizontalAdd(Partial8<TL>(q, k + 6 * stride, hd), Partial8<TL>(q, k + 7 * stride, hd));
            Vector256<float> h0123 = Avx.HorizontalAdd(h01, h23);
            Vector256<float> h4567 = Avx.HorizontalAdd(h45, h67);
            Vector256<float> sums = Avx.Permute2x128(h0123, h4567, 0x20) + Avx.Permute2x128(h0123, h4567, 0x31);
            (sums * sc).Store(dst + t);
        }
        for (; t < count; t++) dst[t] = Dot8<TL>(q, kBase + t * stride, hd) * scale;
    }

    /// <summary>output = inv · (Σ_t p[t] v_t + Σ_a p[prefix + a] v_slot[a]), 64 dimensions at a time in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValues<TL>(float* p, byte* vBase, nint stride, int hd, int prefix, int* slot, int own, float inv, float* output)
        where TL : struct, IWeightLoader
    {
        if (hd <= 32)
        {
            WeightedValuesNarrow<TL>(p, vBase, stride, hd, prefix, slot, own, inv, output);
            return;
        }
        for (int g = 0; g < hd; g += 64)
        {
            int chunks = Math.Min(8, (hd - g) / 8);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            int total = prefix + own;
            for (int t = 0; t < total; t++)
            {
                byte* v = (t < prefix ? vBase + t * stride : vBase + slot[t - prefix] * stride) + g * TL.ElementBytes;
                Vector256<float> w = Vector256.Create(p[t]);
                a0 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 0), a0);
                if (chunks > 1) a1 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 8), a1);
                if (chunks > 2) a2 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 16), a2);
                if (chunks > 3) a3 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 24), a3);
                if (chunks > 4) a4 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 32), a4);
                if (chunks > 5) a5 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 40), a5);
                if (chunks > 6) a6 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 48), a6);
                if (chunks > 7) a7 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 56), a7);
            }
            Vector256<float> s = Vector256.Create(inv);
            float* o = output + g;
            (a0 * s).Store(o);
            if (chunks > 1) (a1 * s).Store(o + 8);
            if (chunks > 2) (a2 * s).Store(o + 16);
            if (chunks > 3) (a3 * s).Store(o + 24);
            if (chunks > 4) (a4 * s).Store(o + 32);
            if (chunks > 5) (a5 * s).Store(o + 40);
            if (chunks > 6) (a6 * s).Store(o + 48);
            if (chunks > 7) (a7 * s).Store(o + 56);
        }
    }

    /// <summary><see cref="WeightedValues"/> for head_dim 8..32: one FMA chain per 8 dimensions would wait on FMA
    /// latency at every position, so positions are taken 4 (head_dim 8), 2 (16) or 2 (24, 32) at a time into
    /// separate accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedValuesNarrow<TL>(float* p, byte* vBase, nint stride, int hd, int prefix, int* slot, int own, float inv, float* output)
        where TL : struct, IWeightLoader
    {
        int chunks = hd / 8;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int t = 0;
        if (chunks == 1)
        {
            for (; t + 4 <= prefix; t += 4)
            {
                byte* v = vBase + t * stride;
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t]), TL.Load8(v, 0), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 1]), TL.Load8(v + stride, 0), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 2]), TL.Load8(v + 2 * stride, 0), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Create(p[t + 3]), TL.Load8(v + 3 * stride, 0), a3);
            }
            a0 = (a0 + a1) + (a2 + a3);
            a1 = a2 = a3 = default;
        }
        else
        {
            for (; t + 2 <= prefix; t += 2)
            {
                byte* v = vBase + t * stride;
                Vector256<float> w = Vector256.Create(p[t]), u = Vector256.Create(p[t + 1]);
                a0 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 0), a0);
                b0 = Vector256.FusedMultiplyAdd(u, TL.Load8(v + stride, 0), b0);
                a1 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 8), a1);
                b1 = Vector256.FusedMultiplyAdd(u, TL.Load8(v + stride, 8), b1);
                if (chunks > 2)
                {
                    a2 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 16), a2);
                    b2 = Vector256.FusedMultiplyAdd(u, TL.Load8(v + stride, 16), b2);
                }
                if (chunks > 3)
                {
                    a3 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 24), a3);
                    b3 = Vector256.FusedMultiplyAdd(u, TL.Load8(v + stride, 24), b3);
                }
            }
            a0 += b0;
            a1 += b1;
            a2 += b2;
            a3 += b3;
        }
        int total = prefix + own;
        for (; t < total; t++)
        {
            byte* v = t < prefix ? vBase + t * stride : vBase + slot[t - prefix] * stride;
            Vector256<float> w = Vector256.Create(p[t]);
            a0 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 0), a0);
            if (chunks > 1) a1 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 8), a1);
            if (chunks > 2) a2 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 16), a2);
            if (chunks > 3) a3 = Vector256.FusedMultiplyAdd(w, TL.Load8(v, 24), a3);
        }
        Vector256<float> s = Vector256.Create(inv);
        (a0 * s).Store(output);
        if (chunks > 1) (a1 * s).Store(output + 8);
        if (chunks > 2) (a2 * s).Store(output + 16);
        if (chunks > 3) (a3 * s).Store(output + 24);
    }
}
