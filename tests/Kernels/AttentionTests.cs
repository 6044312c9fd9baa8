using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>Attention (SIMD and portable paths, 1 and 2 threads) against a double-precision reference that
/// builds the tree mask explicitly: chains, trees, GQA, head sizes that are and are not multiples of 8.
/// Tolerance: 1e-5 absolute (values are in [-1, 1]).</summary>
public class AttentionTests
{
    public static TheoryData<int, int, int, bool, int> Cases()
    {
        var data = new TheoryData<int, int, int, bool, int>();
        foreach (int hd in new[] { 8, 12, 16, 24, 32, 64, 72, 128 })
            foreach (bool scalar in new[] { false, true })
                foreach (int threads in new[] { 1, 2 })
                    data.Add(hd, 4, 2, scalar, threads);
        data.Add(8, 8, 8, false, 2);
        data.Add(64, 12, 12, false, 2);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesMaskedReference(int headDim, int heads, int kvHeads, bool forceScalar, int threads)
    {
        var rng = new Random(headDim * 31 + heads);
        using var backend = new CpuBackend(threads, forceScalar);
        foreach (int prefix in new[] { 0, 1, 7, 8, 9, 40, 300 })
        {
            foreach (int[] parents in new[] { new[] { -1 }, new[] { -1, 0, 1, 2, 3 }, new[] { -1, 0, 0, 1, 1, 2, -1, 6 } })
            {
                int n = parents.Length;
                int cap = prefix + n;
                int qDim = heads * headDim, kvDim = kvHeads * headDim;
                float[] q = RandomFloats(rng, n * qDim, 3f), k = RandomFloats(rng, cap * kvDim), v = RandomFloats(rng, cap * kvDim);
                using var qt = Activations(q, n, qDim);
                using var kt = Activations(k, cap, kvDim);
                using var vt = Activations(v, cap, kvDim);
                using var ot = Activations(new float[n * qDim], n, qDim);
                backend.Attention(qt, kt, vt, ot, heads, kvHeads, headDim, new AttentionBatch(prefix, parents));
                AssertMatchesReference(q, k, v, ot, heads, kvHeads, headDim, prefix, parents, window: 0);
            }
        }
    }

    public static TheoryData<int, bool, int> WindowCases()
    {
        var data = new TheoryData<int, bool, int>();
        foreach (int hd in new[] { 8, 24, 64, 12 })
            foreach (bool scalar in new[] { false, true })
                data.Add(hd, scalar, 2);
        data.Add(32, false, 1);
        return data;
    }

    /// <summary>Sliding-window attention (Mistral's mask: a token at position i sees keys at j with i − j &lt; W)
    /// for prefill chains, decode steps and trees whose depth exceeds the window, against the masked reference.</summary>
    [Theory]
    [MemberData(nameof(WindowCases))]
    public void SlidingWindowMatchesMaskedReference(int headDim, bool forceScalar, int threads)
    {
        var rng = new Random(headDim * 7 + (forceScalar ? 1 : 0));
        using var backend = new CpuBackend(threads, forceScalar);
        const int heads = 4, kvHeads = 2;
        foreach (int window in new[] { 1, 3, 8 })
        {
            foreach (int prefix in new[] { 0, 2, 8, 9, 40 })
            {
                foreach (int[] parents in new[] { new[] { -1 }, Enumerable.Range(-1, 12).ToArray(), new[] { -1, 0, 0, 1, 1, 2, -1, 6, 3, 8, 9, 10, 11 } })
                {
                    int n = parents.Length;
                    int cap = prefix + n;
                    int qDim = heads * headDim, kvDim = kvHeads * headDim;
                    float[] q = RandomFloats(rng, n * qDim, 3f), k = RandomFloats(rng, cap * kvDim), v = RandomFloats(rng, cap * kvDim);
                    using var qt = Activations(q, n, qDim);
                    using var kt = Activations(k, cap, kvDim);
                    using var vt = Activations(v, cap, kvDim);
                    using var ot = Activations(new float[n * qDim], n, qDim);
                    backend.Attention(qt, kt, vt, ot, heads, kvHeads, headDim, new AttentionBatch(prefix, parents, window));
                    AssertMatchesReference(q, k, v, ot, heads, kvHeads, headDim, prefix, parents, window);
                }
            }
        }
    }

    public static TheoryData<int, bool, int, int> CachedTreeCases()
    {
        var data = new TheoryData<int, bool, int, int>();
        foreach (int hd in new[] { 8, 12, 64 })
            foreach (bool scalar in new[] { false, true })
                data.Add(hd, scalar, 2, 0);
        data.Add(16, false, 1, 0);
        data.Add(8, false, 2, 3);
        data.Add(24, true, 1, 2);
        return data;
    }

    /// <summary>A batch whose parents are tree rows an earlier batch left in the cache (beyond the shared rows):
    /// each new token sees the shared rows, its cached ancestors and its ancestors in the batch, nothing else.</summary>
    [Theory]
    [MemberData(nameof(CachedTreeCases))]
    public void CachedTreeParentsMatchMaskedReference(int headDim, bool forceScalar, int threads, int window)
    {
        var rng = new Random(headDim * 13 + window);
        using var backend = new CpuBackend(threads, forceScalar);
        const int heads = 4, kvHeads = 2;
        // Region rows: the cached tree rows first, then the new tokens (whose parents point at both).
        var regions = new (int[] Parents, int Cached)[]
        {
            (new[] { -1, 0, 0, 1, -1, 3, 2, 4, -1, 5 }, 5),
            (new[] { -1, 0, 1, 2, 3, 4, 5, 5, 5 }, 6),
            (new[] { -1, -1, -1, 0, 1, 2 }, 3),
            (new[] { -1, 0, 1, 1, 3 }, 4),
        };
        foreach (int shared in new[] { 0, 1, 9, 40 })
        {
            foreach (var (parents, cached) in regions)
            {
                int n = parents.Length - cached;
                int cap = shared + parents.Length;
                int qDim = heads * headDim, kvDim = kvHeads * headDim;
                float[] q = RandomFloats(rng, n * qDim, 3f), k = RandomFloats(rng, cap * kvDim), v = RandomFloats(rng, cap * kvDim);
                using var qt = Activations(q, n, qDim);
                using var kt = Activations(k, cap, kvDim);
                using var vt = Activations(v, cap, kvDim);
                using var ot = Activations(new float[n * qDim], n, qDim);
                backend.Attention(qt, kt, vt, ot, heads, kvHeads, headDim, new AttentionBatch(shared, shared + cached, parents, window));
                AssertMatchesReference(q, k, v, ot, heads, kvHeads, headDim, shared, parents, window, cached);
            }
        }
    }

    [Fact]
    public void ParentsAfterTheirRowAreRefused()
    {
        using var backend = new CpuBackend(1);
        using var t = Activations(new float[4 * 8], 4, 8);
        var e = Assert.Throws<ArgumentException>(() => backend.Attention(t, t, t, t, 1, 1, 8, new AttentionBatch(1, 2, new[] { -1, 1 })));
        Assert.Contains("earlier row", e.Message);
    }

    /// <summary>Double-precision attention with the tree (and window) mask built explicitly: <paramref name="prefix"/>
    /// shared rows, then the tree region whose rows have <paramref name="parents"/>; the first <paramref name="cachedTree"/>
    /// region rows are already in the cache and the rest are the batch's tokens.</summary>
    internal static double[] Reference(float[] q, float[] k, float[] v, int heads, int kvHeads, int headDim,
        int prefix, int[] parents, int window, int cachedTree = 0)
    {
        int region = parents.Length, n = region - cachedTree;
        int qDim = heads * headDim, kvDim = kvHeads * headDim;
        var depth = new int[region];
        for (int r = 0; r < region; r++) depth[r] = parents[r] < 0 ? 0 : depth[parents[r]] + 1;
        var result = new double[n * qDim];
        for (int i = 0; i < n; i++)
        {
            int r = cachedTree + i;
            int position = prefix + depth[r];
            var visible = new List<int>();
            for (int t = 0; t < prefix; t++)
                if (window == 0 || position - t < window) visible.Add(t);
            for (int j = r; j >= 0; j = parents[j])
                if (window == 0 || position - (prefix + depth[j]) < window) visible.Add(prefix + j);
            for (int h = 0; h < heads; h++)
            {
                int kh = h / (heads / kvHeads);
                var s = visible.Select(t => Enumerable.Range(0, headDim).Sum(d => (double)q[i * qDim + h * headDim + d] * k[t * kvDim + kh * headDim + d]) / Math.Sqrt(headDim)).ToArray();
                double max = s.Max();
                double[] e = s.Select(x => Math.Exp(x - max)).ToArray();
                double sum = e.Sum();
                for (int d = 0; d < headDim; d++)
                {
                    double expected = 0;
                    for (int a = 0; a < visible.Count; a++) expected += e[a] / sum * v[visible[a] * kvDim + kh * headDim + d];
                    result[i * qDim + h * headDim + d] = expected;
                }
            }
        }
        return result;
    }

    /// <summary>Asserts <paramref name="ot"/> equals <see cref="Reference"/> within 1e-5.</summary>
    internal static void AssertMatchesReference(float[] q, float[] k, float[] v, CpuTensor ot, int heads, int kvHeads, int headDim,
        int prefix, int[] parents, int window, int cachedTree = 0)
    {
        double[] expected = Reference(q, k, v, heads, kvHeads, headDim, prefix, parents, window, cachedTree);
        int qDim = heads * headDim;
        for (int i = 0; i < parents.Length - cachedTree; i++)
            for (int c = 0; c < qDim; c++)
            {
                float got = ot.Row(i)[c];
                Assert.True(Math.Abs(got - expected[i * qDim + c]) <= 1e-5,
                    $"hd {headDim} prefix {prefix} cached {cachedTree} window {window} row {i} col {c}: {got} vs {expected[i * qDim + c]}");
            }
    }
}
