using ILGPU;
using ILGPU.Algorithms;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>Arguments of the attention kernels (packed so the kernel signature stays short).</summary>
internal struct AttentionArgs
{
    public ArrayView<float> Q;          // [rows, heads * headDim]
    public ArrayView<float> Keys;       // [capacity, kvHeads * headDim]
    public ArrayView<float> Values;     // [capacity, kvHeads * headDim]
    public ArrayView<float> Output;     // [rows, heads * headDim]
    public ArrayView<int> Ancestors;    // per row, its own tree region row and its ancestors', root first (slot = Prefix + region row)
    public ArrayView<int> AncestorStart; // [rows + 1] offsets into Ancestors
    public ArrayView<float> PartialMax; // [rows, heads, chunks]
    public ArrayView<float> PartialSum; // [rows, heads, chunks]
    public ArrayView<float> PartialAcc; // [rows, heads, chunks, headDim]
    public int Heads;
    public int KvHeads;
    public int HeadDim;
    public int Prefix;                  // shared rows every row sees (the tree region starts after them)
    public int Window;                  // sliding-window width, 0: none
    public int Chunk;
    public int Chunks;
    public float Scale;
}

/// <summary>Arguments of the sampling kernel.</summary>
internal struct SampleArgs
{
    public ArrayView<float> Logits;   // [rows, vocab]
    public ArrayView<float> Uniforms; // [rows] in [0, 1)
    public ArrayView<int> Result;     // [rows]
    public int Vocab;
    public float InvTemperature;      // 1 / T, T > 0
    public int TopK;                  // 1..vocab (vocab: no limit)
    public float TopP;                // (0, 1] (1: no limit)
}

/// <summary>A count and a mass summed together in one group reduction.</summary>
internal struct CountMass
{
    public int Count;
    public float Mass;
}

/// <summary>
/// The device kernels of <see cref="IlgpuBackend"/>. Explicitly grouped kernels are written for any
/// warp size and any group size that is a multiple of it (the CPU accelerator runs them with small warps,
/// CUDA with 32, AMD with 64); reductions use warp shuffles and one shared-memory slot per warp.
/// </summary>
internal static class DeviceKernels
{
    /// <summary>Most threads in a group any kernel is launched with.</summary>
    public const int MaxGroupSize = 256;
    /// <summary>Most warps in a group (a warp has at least 1 thread; CPU accelerators may use tiny warps).</summary>
    public const int MaxWarps = 64;
    /// <summary>K-extent of one shared-memory tile of the batched matmul.</summary>
    public const int TileK = 32;
    /// <summary>Most token rows one batched-matmul group handles (its x tile).</summary>
    public const int MaxTileRows = 64;
    /// <summary>Largest head dimension the attention kernel holds in shared memory.</summary>
    public const int MaxHeadDim = 256;
    /// <summary>Largest number of keys one attention group scores in shared memory.</summary>
    public const int MaxChunk = 1024;
    /// <summary>Max score of an empty attention chunk: exp(Empty - m) is 0 for any real m, with no inf - inf.</summary>
    public const float Empty = -1e30f;

    // ---------------------------------------------------------------- reductions

    private static float WarpSum(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    private static float WarpMax(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = XMath.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    /// <summary>Sum over the group, returned to every thread. scratch: shared, ≥ warps per group.</summary>
    private static float GroupSum(float value, ArrayView<float> scratch)
    {
        value = WarpSum(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        int warps = Group.DimX / Warp.WarpSize;
        float total = 0f;
        for (int i = 0; i < warps; i++) total += scratch[i];
        Group.Barrier();
        return total;
    }

    /// <summary>Maximum over the group, returned to every thread. scratch: shared, ≥ warps per group.</summary>
    private static float GroupMax(float value, ArrayView<float> scratch)
    {
        value = WarpMax(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        int warps = Group.DimX / Warp.WarpSize;
        float best = scratch[0];
        for (int i = 1; i < warps; i++) best = XMath.Max(best, scratch[i]);
        Group.Barrier();
        return best;
    }

    private static int WarpSumInt(int value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    /// <summary>Sums of a count and a mass over the group, returned to every thread (one pair of barriers for
    /// both). counts, masses: shared, ≥ warps per group.</summary>
    private static CountMass GroupCountMass(int count, float mass, ArrayView<int> counts, ArrayView<float> masses)
    {
        count = WarpSumInt(count);
        mass = WarpSum(mass);
        if (Warp.IsFirstLane)
        {
            counts[Warp.WarpIdx] = count;
            masses[Warp.WarpIdx] = mass;
        }
        Group.Barrier();
        int warps = Group.DimX / Warp.WarpSize;
        var total = new CountMass();
        for (int i = 0; i < warps; i++)
        {
            total.Count += counts[i];
            total.Mass += masses[i];
        }
        Group.Barrier();
        return total;
    }

    // ---------------------------------------------------------------- matmul

    /// <summary>y[o] = Σ_i w[o, i]·x[i] (one token). Each warp owns one output row at a time and strides
    /// over grid-wide rows; lanes read consecutive weights (coalesced, 32-bit pairs for 16-bit dtypes)
    /// and the row's partial sums meet in a shuffle reduction. Group: any multiple of the warp size.</summary>
    public static void MatVec<TW>(TW w, ArrayView<float> x, ArrayView<float> y, int inDim, int outDim)
        where TW : struct, IWeightView
    {
        int warpSize = Warp.WarpSize;
        int warpsPerGroup = Group.DimX / warpSize;
        int lane = Warp.LaneIdx;
        int stride = Grid.DimX * warpsPerGroup;
        bool pairs = (inDim & 1) == 0;
        int halfIn = inDim >> 1;
        for (int row = Grid.IdxX * warpsPerGroup + Warp.WarpIdx; row < outDim; row += stride)
        {
            long rowBase = (long)row * inDim;
            float acc = 0f;
            if (pairs)
            {
                long pairBase = rowBase >> 1;
                for (int p = lane; p < halfIn; p += warpSize)
                {
                    w.LoadPair(pairBase + p, out float a, out float b);
                    acc += a * x[2 * p] + b * x[2 * p + 1];
                }
            }
            else
            {
                for (int i = lane; i < inDim; i += warpSize) acc += w.Load(rowBase + i) * x[i];
            }
            acc = WarpSum(acc);
            if (lane == 0) y[row] = acc;
        }
    }

    /// <summary>y[r, o] = Σ_i w[o, i]·x[r, i] for r &lt; rows ≤ 64 (a verification batch). A group owns
    /// Group.DimX / quads output features and all rows: per K-tile of 32 it stages the weight tile and the
    /// x tile in shared memory once, then every thread accumulates a 4-row × 1-feature micro-tile in F32
    /// registers, so each weight is read from global memory once for the whole batch.
    /// quads: a power of two ≥ ceil(rows / 4), ≤ Group.DimX.</summary>
    public static void MatMulTiled<TW>(TW w, ArrayView<float> x, ArrayView<float> y, int rows, int inDim, int outDim, int quads)
        where TW : struct, IWeightView
    {
        const int wStride = TileK + 1; // padding: threads of one warp read distinct banks
        const int xStride = TileK + 1;
        var wTile = SharedMemory.Allocate<float>(MaxGroupSize * wStride);  // [features, TileK]
        var xTile = SharedMemory.Allocate<float>(MaxTileRows * xStride);   // [rows, TileK]

        int groupSize = Group.DimX;
        int t = Group.IdxX;
        int features = groupSize / quads;
        int quad = t % quads;
        int f = t / quads;
        int n0 = Grid.IdxX * features;
        int feature = n0 + f;
        int r0 = quad * 4;
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;

        for (int k0 = 0; k0 < inDim; k0 += TileK)
        {
            for (int e = t; e < features * TileK; e += groupSize)
            {
                int ff = e / TileK;
                int kk = e - ff * TileK;
                int n = n0 + ff;
                int k = k0 + kk;
                wTile[ff * wStride + kk] = n < outDim && k < inDim ? w.Load((long)n * inDim + k) : 0f;
            }
            for (int e = t; e < quads * 4 * TileK; e += groupSize)
            {
                int rr = e / TileK;
                int kk = e - rr * TileK;
                int k = k0 + kk;
                xTile[rr * xStride + kk] = rr < rows && k < inDim ? x[(long)rr * inDim + k] : 0f;
            }
            Group.Barrier();

            int wb = f * wStride;
            int xb = r0 * xStride;
            for (int kk = 0; kk < TileK; kk++)
            {
                float wv = wTile[wb + kk];
                a0 += wv * xTile[xb + kk];
                a1 += wv * xTile[xb + xStride + kk];
                a2 += wv * xTile[xb + 2 * xStride + kk];
                a3 += wv * xTile[xb + 3 * xStride + kk];
            }
            Group.Barrier();
        }

        if (feature < outDim)
        {
            if (r0 < rows) y[(long)r0 * outDim + feature] = a0;
            if (r0 + 1 < rows) y[(long)(r0 + 1) * outDim + feature] = a1;
            if (r0 + 2 < rows) y[(long)(r0 + 2) * outDim + feature] = a2;
            if (r0 + 3 < rows) y[(long)(r0 + 3) * outDim + feature] = a3;
        }
    }

    // ---------------------------------------------------------------- norms and element-wise

    /// <summary>output[r] = x[r]·rsqrt(mean(x[r]²) + eps)·weight; one group per row (x and output may be the
    /// same view: each element is read before it is written, after the row's reduction).</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> output, int dim, float eps)
    {
        var scratch = SharedMemory.Allocate<float>(MaxWarps);
        long rowBase = (long)Grid.IdxX * dim;
        float sum = 0f;
        for (int i = Group.IdxX; i < dim; i += Group.DimX)
        {
            float v = x[rowBase + i];
            sum += v * v;
        }
        sum = GroupSum(sum, scratch);
        float scale = XMath.Rsqrt(sum / dim + eps);
        for (int i = Group.IdxX; i < dim; i += Group.DimX)
            output[rowBase + i] = x[rowBase + i] * scale * weight[i];
    }

    /// <summary>output[i, c] = table[tokens[i], c] widened to F32; one thread per output element.</summary>
    public static void Embed<TW>(Index1D index, TW table, ArrayView<int> tokens, ArrayView<float> output, int dim)
        where TW : struct, IWeightView
    {
        int row = index / dim;
        int c = index - row * dim;
        output[index] = table.Load((long)tokens[row] * dim + c);
    }

    /// <summary>Rotate-half RoPE in place; one thread per rotated pair (row, head, j).</summary>
    public static void Rope(Index1D index, ArrayView<float> x, ArrayView<int> positions, ArrayView<float> cos, ArrayView<float> sin,
        int heads, int headDim)
    {
        int half = headDim >> 1;
        int j = index % half;
        int rest = index / half;
        int head = rest % heads;
        int row = rest / heads;
        int pos = positions[row];
        float c = cos[pos * half + j];
        float s = sin[pos * half + j];
        long b = (long)row * heads * headDim + head * headDim + j;
        float a = x[b];
        float bb = x[b + half];
        x[b] = a * c - bb * s;
        x[b + half] = bb * c + a * s;
    }

    /// <summary>gate = silu(gate)·up, one pass over both.</summary>
    public static void SwiGlu(Index1D index, ArrayView<float> gate, ArrayView<float> up)
    {
        float g = gate[index];
        gate[index] = g / (1f + XMath.Exp(-g)) * up[index];
    }

    /// <summary>x[r, c] += bias[c]; one thread per element.</summary>
    public static void AddBias(Index1D index, ArrayView<float> x, ArrayView<float> bias, int cols) => x[index] += bias[index % cols];

    /// <summary>x += y.</summary>
    public static void Add(Index1D index, ArrayView<float> x, ArrayView<float> y) => x[index] += y[index];

    /// <summary>result[r] = index of the largest logit of row r (ties: lowest index); one group per row.</summary>
    public static void ArgMax(ArrayView<float> logits, ArrayView<int> result, int vocab)
    {
        var values = SharedMemory.Allocate<float>(MaxGroupSize);
        var indices = SharedMemory.Allocate<int>(MaxGroupSize);
        int t = Group.IdxX;
        long rowBase = (long)Grid.IdxX * vocab;
        float best = float.NegativeInfinity;
        int bestIndex = int.MaxValue;
        for (int i = t; i < vocab; i += Group.DimX)
        {
            float v = logits[rowBase + i];
            // A NaN or +infinity takes the index -1 at +infinity, which wins the reduction below: the host refuses the row.
            if (IsNaNOrPositiveInfinity(v)) { best = float.PositiveInfinity; bestIndex = -1; }
            else if (v > best || bestIndex == int.MaxValue) { best = v; bestIndex = i; }
        }
        values[t] = best;
        indices[t] = bestIndex;
        Group.Barrier();
        // Tree over the group (size need not be a power of two): fold the upper part onto the lower.
        for (int active = Group.DimX; active > 1;)
        {
            int half = (active + 1) >> 1;
            if (t < active - half)
            {
                float ov = values[t + half];
                int oi = indices[t + half];
                if (ov > values[t] || (ov == values[t] && oi < indices[t])) { values[t] = ov; indices[t] = oi; }
            }
            Group.Barrier();
            active = half;
        }
        // A row whose maximum is -infinity has no finite logit either: refused as the CPU sampler refuses it.
        if (t == 0) result[Grid.IdxX] = values[0] == float.NegativeInfinity ? -1 : indices[0];
    }

    /// <summary>Probability of token i under softmax(logits / T), computed as the host's Sampler does
    /// ((l − max)·(1/T), exp, times 1/sum); the same instructions every pass, so the same bits.</summary>
    private static float Probability(ArrayView<float> logits, int i, float max, float invT, float invSum) =>
        XMath.Exp((logits[i] - max) * invT) * invSum;

    private static int Bits(float p) => (int)Interop.FloatAsInt(p);

    /// <summary>NaN or +infinity, by a bit test that is the same on every accelerator whatever its max does with NaN.
    /// With "the maximum is -infinity" these are the rows the CPU sampler refuses (a -infinity beside finite logits
    /// is a token that cannot be drawn, not an error).</summary>
    private static bool IsNaNOrPositiveInfinity(float v)
    {
        uint bits = Interop.FloatAsInt(v);
        return (bits & 0x7FFFFFFFu) > 0x7F800000u || bits == 0x7F800000u;
    }

    /// <summary>
    /// Samples one token per row (one group per row) exactly as the host's <c>Sampler</c>: softmax(logits / T),
    /// top-k then top-p over candidates ordered by probability descending and id ascending, renormalised,
    /// inverse CDF over ids with the row's uniform. Nothing is sorted: probabilities are non-negative, so
    /// their bit patterns order like the values, and each cut is found by bisection on a bit pattern with one
    /// pass and one group reduction per step (≤ 30 steps; top-k's count and top-p's mass share the passes):
    /// t_k = the largest b with count(bits ≥ b) ≥ k, t_p = the largest b with mass(bits ≥ b) ≥ p. The kept
    /// set is a prefix of the candidate order ending inside the tie group of t_k or t_p (whichever ends
    /// first); within that tie group the lowest ids are kept, the last one found by bisection on the id
    /// (skipped when the whole tie group is kept). Top-p counts the tied tokens it needs as
    /// ⌈(p − mass above) / p_t⌉, where the host adds them one at a time: they differ only by rounding.
    /// Selection: each thread owns a contiguous id range, an exclusive scan of the ranges' kept mass in
    /// shared memory places uniform·total, and the lowest id whose cumulative kept mass exceeds it wins
    /// (the last kept id when rounding leaves the total below it).
    /// </summary>
    public static void SampleTokens(SampleArgs a)
    {
        var counts = SharedMemory.Allocate<int>(MaxWarps);
        var masses = SharedMemory.Allocate<float>(MaxWarps);
        var prefix = SharedMemory.Allocate<float>(MaxGroupSize);
        var found = SharedMemory.Allocate<int>(MaxGroupSize);
        var lastKept = SharedMemory.Allocate<int>(MaxGroupSize);
        int t = Group.IdxX;
        int g = Group.DimX;
        int row = Grid.IdxX;
        int n = a.Vocab;
        float invT = a.InvTemperature;
        ArrayView<float> logits = a.Logits.SubView((long)row * n, n);

        // Stable softmax: max, then the sum of exponentials.
        float max = float.NegativeInfinity;
        float nonFinite = 0f;
        for (int i = t; i < n; i += g)
        {
            float v = logits[i];
            max = XMath.Max(max, v);
            if (IsNaNOrPositiveInfinity(v)) nonFinite = 1f;
        }
        max = GroupMax(max, masses);
        // A row with a NaN or +infinity, or no finite logit, has no distribution: the token -1 tells the host to
        // refuse it. Both tests are the same in every thread after the reductions, so the whole group leaves together.
        if (GroupMax(nonFinite, masses) > 0f || max == float.NegativeInfinity)
        {
            if (t == 0) a.Result[row] = -1;
            return;
        }
        float sum = 0f;
        for (int i = t; i < n; i += g) sum += XMath.Exp((logits[i] - max) * invT);
        float invSum = 1f / GroupSum(sum, masses);

        int k = a.TopK;
        bool limitK = k < n;
        bool limitP = false;
        if (a.TopP < 1f)
        {
            // Top-p applies when the whole mass reaches p (rounding may leave it just below p < 1).
            float all = 0f;
            for (int i = t; i < n; i += g) all += Probability(logits, i, max, invT, invSum);
            limitP = GroupSum(all, masses) >= a.TopP;
        }

        // Bisection on bit patterns of p ≤ 1 (0x3F800000). Invariants: count(bits ≥ kLo) ≥ k > count(bits ≥ kHi),
        // mass(bits ≥ pLo) ≥ p > mass(bits ≥ pHi). Masses of nested sets keep their order under rounding.
        int kLo = 0, kHi = limitK ? 0x3F800001 : 1;
        int pLo = 0, pHi = limitP ? 0x3F800001 : 1;
        while (kHi - kLo > 1 || pHi - pLo > 1)
        {
            int kMid = kLo + ((kHi - kLo) >> 1);
            int pMid = pLo + ((pHi - pLo) >> 1);
            int count = 0;
            float mass = 0f;
            for (int i = t; i < n; i += g)
            {
                float p = Probability(logits, i, max, invT, invSum);
                int bits = Bits(p);
                if (bits >= kMid) count++;
                if (bits >= pMid) mass += p;
            }
            CountMass s = GroupCountMass(count, mass, counts, masses);
            if (s.Count >= k) kLo = kMid; else kHi = kMid;
            if (s.Mass >= a.TopP) pLo = pMid; else pHi = pMid;
        }

        // Where the kept prefix ends: threshold bits tb, the number of tied tokens at tb it keeps.
        int tb = 0, needTies = 0, ties = 0;
        if (limitK || limitP)
        {
            int gtK = 0, eqK = 0, gtP = 0, eqP = 0;
            float massGtP = 0f;
            for (int i = t; i < n; i += g)
            {
                float p = Probability(logits, i, max, invT, invSum);
                int bits = Bits(p);
                if (bits > kLo) gtK++; else if (bits == kLo) eqK++;
                if (bits > pLo) { gtP++; massGtP += p; } else if (bits == pLo) eqP++;
            }
            CountMass above = GroupCountMass(gtK, massGtP, counts, masses);
            CountMass tiesK = GroupCountMass(eqK, 0f, counts, masses);
            CountMass aboveP = GroupCountMass(gtP, 0f, counts, masses);
            CountMass tiesP = GroupCountMass(eqP, 0f, counts, masses);
            int lengthP = n, tiesNeededP = 0;
            if (limitP)
            {
                float pt = Interop.IntAsFloat((uint)pLo);
                float need = (a.TopP - above.Mass) / pt;
                if (need >= tiesP.Count) tiesNeededP = tiesP.Count;
                else
                {
                    tiesNeededP = (int)need;
                    if (tiesNeededP < need) tiesNeededP++;
                    if (tiesNeededP < 1) tiesNeededP = 1;
                }
                lengthP = aboveP.Count + tiesNeededP;
            }
            if (limitP && (!limitK || lengthP <= k))
            {
                tb = pLo;
                needTies = tiesNeededP;
                ties = tiesP.Count;
            }
            else
            {
                tb = kLo;
                needTies = k - above.Count;
                ties = tiesK.Count;
            }
        }

        // The last kept id of the tie group: the smallest j with count(bits == tb, id ≤ j) ≥ needTies.
        int lastTie = n - 1;
        if (needTies < ties)
        {
            int lo = -1, hi = n - 1;
            while (hi - lo > 1)
            {
                int mid = lo + ((hi - lo) >> 1);
                int count = 0;
                for (int i = t; i <= mid; i += g)
                    if (Bits(Probability(logits, i, max, invT, invSum)) == tb) count++;
                if (GroupCountMass(count, 0f, counts, masses).Count >= needTies) hi = mid; else lo = mid;
            }
            lastTie = hi;
        }

        // Inverse CDF over ids among kept tokens: contiguous id ranges per thread, exclusive scan of their mass.
        int chunk = (n + g - 1) / g;
        int start = XMath.Min(n, t * chunk);
        int end = XMath.Min(n, start + chunk);
        float local = 0f;
        for (int i = start; i < end; i++)
        {
            float p = Probability(logits, i, max, invT, invSum);
            int bits = Bits(p);
            if (bits > tb || (bits == tb && i <= lastTie)) local += p;
        }
        prefix[t] = local;
        Group.Barrier();
        float total = 0f, cumulative = 0f;
        for (int j = 0; j < g; j++)
        {
            if (j == t) cumulative = total;
            total += prefix[j];
        }
        float target = a.Uniforms[row] * total;
        // A range without a pick was scanned to its end, so its last kept id is exact (the rounding fallback).
        int pick = int.MaxValue, last = -1;
        for (int i = start; i < end && pick == int.MaxValue; i++)
        {
            float p = Probability(logits, i, max, invT, invSum);
            int bits = Bits(p);
            if (p > 0f && (bits > tb || (bits == tb && i <= lastTie)))
            {
                cumulative += p;
                last = i;
                if (target < cumulative) pick = i;
            }
        }
        found[t] = pick;
        lastKept[t] = last;
        Group.Barrier();
        if (t == 0)
        {
            int best = int.MaxValue, lastAll = -1;
            for (int j = 0; j < g; j++)
            {
                best = XMath.Min(best, found[j]);
                lastAll = XMath.Max(lastAll, lastKept[j]);
            }
            a.Result[row] = best != int.MaxValue ? best : XMath.Max(lastAll, 0);
        }
    }

    // ---------------------------------------------------------------- attention

    /// <summary>
    /// Attention of one (key chunk, head, row): grid (chunks, heads, rows). The row's visible keys are the
    /// shared slots 0..Prefix-1 followed by its ancestors' slots and its own (tree mask by parent array,
    /// never a dense mask); this group takes visible keys [chunk·Chunk, (chunk+1)·Chunk). Each warp scores
    /// one key at a time (lanes split the head dimension, shuffle reduction), scores stay in shared memory,
    /// softmax subtracts the chunk maximum, and each thread accumulates output dimensions over the chunk's
    /// values (coalesced reads). With one chunk the normalised output is written; otherwise the chunk's
    /// (max, sum, unnormalised output) go to the partial buffers for <see cref="AttentionCombine"/>.
    /// </summary>
    public static void Attention(AttentionArgs a)
    {
        var q = SharedMemory.Allocate<float>(MaxHeadDim);
        var scores = SharedMemory.Allocate<float>(MaxChunk);
        var scratch = SharedMemory.Allocate<float>(MaxWarps);

        int chunk = Grid.IdxX;
        int head = Grid.IdxY;
        int row = Grid.IdxZ;
        int t = Group.IdxX;
        int groupSize = Group.DimX;
        int hd = a.HeadDim;
        int ancStart = a.AncestorStart[row];
        // Visible keys are numbered by position: committed slot v < Prefix sits at position v, ancestor k
        // (root first) at Prefix + k; a sliding window starts the range at lo.
        int position = a.Prefix + a.AncestorStart[row + 1] - ancStart - 1;
        int lo = a.Window > 0 ? XMath.Max(0, position - a.Window + 1) : 0;
        int visible = position + 1 - lo;
        int start = lo + chunk * a.Chunk;
        int stop = lo + visible;
        int end = XMath.Min(start + a.Chunk, stop);
        int n = end - start;
        int kvStride = a.KvHeads * hd;
        int kvOffset = head / (a.Heads / a.KvHeads) * hd;
        long qBase = ((long)row * a.Heads + head) * hd;

        for (int d = t; d < hd; d += groupSize) q[d] = a.Q[qBase + d] * a.Scale;
        Group.Barrier();

        int warpSize = Warp.WarpSize;
        int warps = groupSize / warpSize;
        int lane = Warp.LaneIdx;
        for (int j = Warp.WarpIdx; j < n; j += warps)
        {
            int v = start + j;
            int slot = v < a.Prefix ? v : a.Prefix + a.Ancestors[ancStart + v - a.Prefix];
            long kBase = (long)slot * kvStride + kvOffset;
            float s = 0f;
            for (int d = lane; d < hd; d += warpSize) s += q[d] * a.Keys[kBase + d];
            s = WarpSum(s);
            if (lane == 0) scores[j] = s;
        }
        Group.Barrier();

        float m = Empty;
        for (int j = t; j < n; j += groupSize) m = XMath.Max(m, scores[j]);
        m = GroupMax(m, scratch);
        float l = 0f;
        for (int j = t; j < n; j += groupSize)
        {
            float e = XMath.Exp(scores[j] - m);
            scores[j] = e;
            l += e;
        }
        l = GroupSum(l, scratch); // its barrier also publishes the exponentials

        long headIndex = (long)row * a.Heads + head;
        for (int d = t; d < hd; d += groupSize)
        {
            float acc = 0f;
            for (int j = 0; j < n; j++)
            {
                int v = start + j;
                int slot = v < a.Prefix ? v : a.Prefix + a.Ancestors[ancStart + v - a.Prefix];
                acc += scores[j] * a.Values[(long)slot * kvStride + kvOffset + d];
            }
            if (a.Chunks == 1) a.Output[qBase + d] = acc / l;
            else a.PartialAcc[(headIndex * a.Chunks + chunk) * hd + d] = acc;
        }
        if (a.Chunks > 1 && t == 0)
        {
            a.PartialMax[headIndex * a.Chunks + chunk] = m;
            a.PartialSum[headIndex * a.Chunks + chunk] = l;
        }
    }

    /// <summary>Merges the per-chunk partial softmax results of <see cref="Attention"/>:
    /// out = Σ_c e^(m_c − M)·acc_c / Σ_c e^(m_c − M)·l_c with M = max_c m_c. Grid (heads, rows).</summary>
    public static void AttentionCombine(AttentionArgs a)
    {
        int head = Grid.IdxX;
        int row = Grid.IdxY;
        int hd = a.HeadDim;
        long headIndex = (long)row * a.Heads + head;
        long pBase = headIndex * a.Chunks;
        float mMax = Empty;
        for (int c = 0; c < a.Chunks; c++) mMax = XMath.Max(mMax, a.PartialMax[pBase + c]);
        float denominator = 0f;
        for (int c = 0; c < a.Chunks; c++) denominator += XMath.Exp(a.PartialMax[pBase + c] - mMax) * a.PartialSum[pBase + c];
        float inv = 1f / denominator;
        for (int d = Group.IdxX; d < hd; d += Group.DimX)
        {
            float acc = 0f;
            for (int c = 0; c < a.Chunks; c++)
                acc += XMath.Exp(a.PartialMax[pBase + c] - mMax) * a.PartialAcc[(pBase + c) * hd + d];
            a.Output[headIndex * hd + d] = acc * inv;
        }
    }
}
