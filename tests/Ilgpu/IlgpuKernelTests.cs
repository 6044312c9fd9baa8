using SpecCore.Kernels;
using SpecCore.Kernels.Ilgpu;
using SpecCore.Tensors;

namespace SpecCore.Tests.Ilgpu;

/// <summary>Every ILGPU kernel against the CPU backend on random inputs, at sizes that are not multiples of
/// the warp, group or tile size. Tolerances are stated per test; sums are compared relative to the sum of
/// absolute terms (both sides accumulate in F32, in different orders).</summary>
[Collection("ilgpu")]
public class IlgpuKernelTests
{
    private readonly IlgpuFixture _f;

    public IlgpuKernelTests(IlgpuFixture f) => _f = f;

    private static readonly (int In, int Out)[] Shapes = { (1, 7), (7, 33), (33, 100), (100, 130), (130, 1), (64, 64) };

    public static TheoryData<DType, int> MatMulCases()
    {
        var data = new TheoryData<DType, int>();
        foreach (DType d in new[] { DType.F32, DType.F16, DType.BF16 })
            foreach (int rows in new[] { 1, 2, 5, 33, 70 })
                data.Add(d, rows);
        return data;
    }

    /// <summary>GEMV (1 row) and the tiled batch kernel (2..64 rows, 70 = a 64-row tile plus 6).
    /// Tolerance: |gpu − cpu| ≤ 2e-5 · Σ|x·w| + 1e-6 per output.</summary>
    [Theory]
    [MemberData(nameof(MatMulCases))]
    public void MatMulMatchesCpu(DType dtype, int rows)
    {
        using var p = new Pair(_f, seed: rows * 31 + (int)dtype);
        foreach (var (inDim, outDim) in Shapes)
        {
            var w = p.Weight(dtype, outDim, inDim);
            float[] xv = p.Random(rows * inDim);
            var x = p.Activation(xv, rows, inDim);
            var y = p.Activation(new float[rows * outDim], rows, outDim);
            _f.Cpu.MatMul(x.Cpu, w.Cpu, y.Cpu, rows);
            _f.Gpu.MatMul(x.Gpu, w.Gpu, y.Gpu, rows);
            float[] expected = p.ReadCpu(y.Cpu, rows * outDim);
            float[] actual = p.ReadGpu(y.Gpu, rows * outDim);
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < outDim; o++)
                {
                    double mag = 0;
                    for (int i = 0; i < inDim; i++) mag += Math.Abs(xv[r * inDim + i] * w.Widened[o * inDim + i]);
                    float e = expected[r * outDim + o], a = actual[r * outDim + o];
                    Assert.True(Math.Abs(e - a) <= 2e-5 * mag + 1e-6, $"{dtype} [{rows}x{inDim}]·[{outDim}x{inDim}]ᵀ at ({r},{o}): cpu {e}, gpu {a}");
                }
        }
    }

    /// <summary>A group of two matrices sharing one input equals one MatMul each on the same backend.</summary>
    [Fact]
    public void MatMulGroupEqualsSeparateMatMuls()
    {
        using var p = new Pair(_f, seed: 5);
        const int rows = 3, inDim = 33;
        var a = p.Weight(DType.F32, 7, inDim);
        var b = p.Weight(DType.BF16, 40, inDim);
        var x = p.Activation(p.Random(rows * inDim), rows, inDim);
        var ya = p.Activation(new float[rows * 7], rows, 7);
        var yb = p.Activation(new float[rows * 40], rows, 40);
        var sa = p.Activation(new float[rows * 7], rows, 7);
        var sb = p.Activation(new float[rows * 40], rows, 40);
        _f.Gpu.MatMulGroup(x.Gpu, new[] { a.Gpu, b.Gpu }, new[] { ya.Gpu, yb.Gpu }, rows);
        _f.Gpu.MatMul(x.Gpu, a.Gpu, sa.Gpu, rows);
        _f.Gpu.MatMul(x.Gpu, b.Gpu, sb.Gpu, rows);
        Assert.Equal(p.ReadGpu(sa.Gpu, rows * 7), p.ReadGpu(ya.Gpu, rows * 7));
        Assert.Equal(p.ReadGpu(sb.Gpu, rows * 40), p.ReadGpu(yb.Gpu, rows * 40));
    }

    /// <summary>Tolerance: 1e-5 relative + 1e-6.</summary>
    [Fact]
    public void RmsNormMatchesCpu()
    {
        using var p = new Pair(_f, 1);
        foreach (int dim in new[] { 1, 7, 33, 100, 130 })
        {
            const int rows = 3;
            var x = p.Activation(p.Random(rows * dim, 3f), rows, dim);
            var w = p.Weight(DType.F32, 1, dim, vector: true);
            var o = p.Activation(new float[rows * dim], rows, dim);
            _f.Cpu.RmsNorm(x.Cpu, w.Cpu, o.Cpu, rows, 1e-5f);
            _f.Gpu.RmsNorm(x.Gpu, w.Gpu, o.Gpu, rows, 1e-5f);
            AssertClose(p.ReadCpu(o.Cpu, rows * dim), p.ReadGpu(o.Gpu, rows * dim), 1e-5, 1e-6, $"rmsnorm dim {dim}");
        }
    }

    /// <summary>Same table values and formula: tolerance 1e-6 absolute on |x| ≤ 1.</summary>
    [Fact]
    public void RopeMatchesCpu()
    {
        using var p = new Pair(_f, 2);
        foreach (int headDim in new[] { 2, 8, 18 })
        {
            const int rows = 3, heads = 3, maxPos = 50;
            double[] inv = Enumerable.Range(0, headDim / 2).Select(j => 1.0 / Math.Pow(10000, 2.0 * j / headDim)).ToArray();
            using var cpuTable = _f.Cpu.CreateRopeTable(inv, maxPos);
            using var gpuTable = _f.Gpu.CreateRopeTable(inv, maxPos);
            var x = p.Activation(p.Random(rows * heads * headDim), rows, heads * headDim);
            int[] positions = { 0, 17, 49 };
            _f.Cpu.Rope(x.Cpu, rows, heads, headDim, positions, cpuTable);
            _f.Gpu.Rope(x.Gpu, rows, heads, headDim, positions, gpuTable);
            AssertClose(p.ReadCpu(x.Cpu, rows * heads * headDim), p.ReadGpu(x.Gpu, rows * heads * headDim), 0, 1e-6, $"rope headDim {headDim}");
        }
    }

    /// <summary>Widening is exact: equality.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void EmbedMatchesCpu(DType dtype)
    {
        using var p = new Pair(_f, 3);
        const int vocab = 37, dim = 33;
        var table = p.Weight(dtype, vocab, dim);
        int[] tokens = { 0, 36, 5, 5, 20 };
        var o = p.Activation(new float[tokens.Length * dim], tokens.Length, dim);
        _f.Cpu.Embed(table.Cpu, tokens, o.Cpu);
        _f.Gpu.Embed(table.Gpu, tokens, o.Gpu);
        Assert.Equal(p.ReadCpu(o.Cpu, tokens.Length * dim), p.ReadGpu(o.Gpu, tokens.Length * dim));
        Assert.Throws<ArgumentOutOfRangeException>(() => _f.Gpu.Embed(table.Gpu, new[] { vocab }, o.Gpu));
    }

    /// <summary>SwiGLU: 1e-5 relative + 1e-6 (exp differs in the last bits); Add: exact.</summary>
    [Fact]
    public void SwiGluAndAddMatchCpu()
    {
        using var p = new Pair(_f, 4);
        const int rows = 3, hidden = 130;
        var g = p.Activation(p.Random(rows * hidden, 20f), rows, hidden);
        var u = p.Activation(p.Random(rows * hidden, 2f), rows, hidden);
        _f.Cpu.SwiGlu(g.Cpu, u.Cpu, rows);
        _f.Gpu.SwiGlu(g.Gpu, u.Gpu, rows);
        AssertClose(p.ReadCpu(g.Cpu, rows * hidden), p.ReadGpu(g.Gpu, rows * hidden), 1e-5, 1e-6, "swiglu");

        float[] y = p.Random(rows * hidden);
        var a = p.Activation(p.Random(rows * hidden), rows, hidden);
        var b = p.Activation(y, rows, hidden);
        _f.Cpu.Add(a.Cpu, b.Cpu, 2);
        _f.Gpu.Add(a.Gpu, b.Gpu, 2);
        Assert.Equal(p.ReadCpu(a.Cpu, rows * hidden), p.ReadGpu(a.Gpu, rows * hidden));
    }

    /// <summary>Exact: lowest index among ties, at vocab sizes around the group size.</summary>
    [Fact]
    public void ArgMaxMatchesCpu()
    {
        using var p = new Pair(_f, 5);
        foreach (int vocab in new[] { 1, 7, 33, 100, 130, 1000 })
        {
            const int rows = 4;
            float[] v = p.Random(rows * vocab, 100f);
            // Row 1: a tie between two positions; row 2: all equal; row 3: maximum at the end.
            if (vocab > 3)
            {
                v[vocab + vocab - 2] = v[vocab + 1] = 500f;
            }
            for (int i = 0; i < vocab; i++) v[2 * vocab + i] = -3f;
            v[4 * vocab - 1] = 1000f;
            var t = p.Activation(v, rows, vocab);
            var expected = new int[rows];
            var actual = new int[rows];
            _f.Cpu.ArgMax(t.Cpu, rows, expected);
            _f.Gpu.ArgMax(t.Gpu, rows, actual);
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>Copies are exact, including KV compaction moves in order.</summary>
    [Fact]
    public void CopyAndGatherRowsMatchCpu()
    {
        using var p = new Pair(_f, 6);
        const int rows = 12, cols = 7;
        var a = p.Activation(p.Random(rows * cols), rows, cols);
        var b = p.Activation(p.Random(rows * cols), rows, cols);
        _f.Cpu.CopyRows(a.Cpu, 2, b.Cpu, 5, 4);
        _f.Gpu.CopyRows(a.Gpu, 2, b.Gpu, 5, 4);
        int[] kept = { 4, 5, 8, 11 };
        _f.Cpu.GatherRows(b.Cpu, kept, 3);
        _f.Gpu.GatherRows(b.Gpu, kept, 3);
        Assert.Equal(p.ReadCpu(b.Cpu, rows * cols), p.ReadGpu(b.Gpu, rows * cols));

        float[] part = { 1, 2, 3 };
        _f.Gpu.Write(a.Gpu, part, 10);
        var back = new float[5];
        _f.Gpu.Read(a.Gpu, back, 9);
        Assert.Equal(new[] { 1f, 2f, 3f }, back[1..4]);
    }

    public static TheoryData<int, int, int, int, string> AttentionCases()
    {
        var data = new TheoryData<int, int, int, int, string>();
        foreach (var (heads, kv, hd) in new[] { (4, 2, 8), (2, 2, 33), (4, 1, 16) })
            foreach (int prefix in new[] { 0, 5, 3 * IlgpuFixture.AttentionChunk + 7 })
                foreach (string shape in new[] { "single", "chain", "tree", "siblings" })
                    data.Add(heads, kv, hd, prefix, shape);
        return data;
    }

    /// <summary>Attention with GQA over a cache, causal chains and random trees (parent arrays), prefixes
    /// of 0, less than one chunk and several chunks (split path + combine). Scores are scaled up so some
    /// exceed 88 (where an unshifted exp overflows). Tolerance: 1e-4 relative + 1e-5.</summary>
    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void AttentionMatchesCpu(int heads, int kvHeads, int headDim, int prefix, string shape)
    {
        using var p = new Pair(_f, heads * 1000 + headDim * 10 + prefix + shape.Length);
        int[] parents = shape switch
        {
            "single" => new[] { -1 },
            "chain" => Enumerable.Range(0, 7).Select(i => i - 1).ToArray(),
            "siblings" => Enumerable.Repeat(-1, 5).ToArray(),
            _ => RandomTree(p.Rng, 13),
        };
        int rows = parents.Length;
        int capacity = prefix + rows + 3;
        int kvDim = kvHeads * headDim;
        var q = p.Activation(p.Random(rows * heads * headDim, 6f), rows, heads * headDim);
        var k = p.Activation(p.Random(capacity * kvDim, 6f), capacity, kvDim);
        var v = p.Activation(p.Random(capacity * kvDim, 2f), capacity, kvDim);
        var o = p.Activation(new float[rows * heads * headDim], rows, heads * headDim);
        var batch = new AttentionBatch(prefix, parents);
        _f.Cpu.Attention(q.Cpu, k.Cpu, v.Cpu, o.Cpu, heads, kvHeads, headDim, batch);
        _f.Gpu.Attention(q.Gpu, k.Gpu, v.Gpu, o.Gpu, heads, kvHeads, headDim, batch);
        AssertClose(p.ReadCpu(o.Cpu, rows * heads * headDim), p.ReadGpu(o.Gpu, rows * heads * headDim), 1e-4, 1e-5,
            $"attention {heads}/{kvHeads}x{headDim} prefix {prefix} {shape} [{string.Join(",", parents)}]");
    }

    public static TheoryData<int, int, int> CachedTreeCases()
    {
        var data = new TheoryData<int, int, int>();
        foreach (int shared in new[] { 0, 5, 2 * IlgpuFixture.AttentionChunk + 3 })
            foreach (int window in new[] { 0, 4 })
                data.Add(shared, window, 6);
        data.Add(9, 0, 1);
        return data;
    }

    /// <summary>Attention whose batch hangs under tree rows an earlier batch left in the cache (after the shared
    /// rows): a random region of 13 rows of which the first <paramref name="cached"/> are cached, against the
    /// double-precision masked reference and the CPU backend. Tolerance: 1e-4 relative + 1e-5.</summary>
    [Theory]
    [MemberData(nameof(CachedTreeCases))]
    public void AttentionWithCachedTreeParentsMatchesReference(int shared, int window, int cached)
    {
        using var p = new Pair(_f, 300 + shared * 3 + window + cached);
        const int heads = 4, kvHeads = 2, headDim = 8;
        int[] parents = RandomTree(p.Rng, 13);
        int rows = parents.Length - cached;
        int capacity = shared + parents.Length + 2;
        int kvDim = kvHeads * headDim;
        float[] qh = p.Random(rows * heads * headDim, 3f), kh = p.Random(capacity * kvDim), vh = p.Random(capacity * kvDim);
        var q = p.Activation(qh, rows, heads * headDim);
        var k = p.Activation(kh, capacity, kvDim);
        var v = p.Activation(vh, capacity, kvDim);
        var o = p.Activation(new float[rows * heads * headDim], rows, heads * headDim);
        var batch = new AttentionBatch(shared, shared + cached, parents, window);
        _f.Gpu.Attention(q.Gpu, k.Gpu, v.Gpu, o.Gpu, heads, kvHeads, headDim, batch);
        _f.Cpu.Attention(q.Cpu, k.Cpu, v.Cpu, o.Cpu, heads, kvHeads, headDim, batch);
        float[] actual = p.ReadGpu(o.Gpu, rows * heads * headDim);
        float[] expected = SpecCore.Tests.Kernels.AttentionTests.Reference(qh, kh, vh, heads, kvHeads, headDim, shared, parents, window, cached)
            .Select(x => (float)x).ToArray();
        string what = $"cached-tree attention shared {shared} window {window} cached {cached} [{string.Join(",", parents)}]";
        AssertClose(expected, actual, 1e-4, 1e-5, what);
        AssertClose(expected, p.ReadCpu(o.Cpu, rows * heads * headDim), 1e-4, 1e-5, what + " (cpu)");
    }

    /// <summary>Real models have attention scores above 88: the softmax must subtract the maximum.</summary>
    [Fact]
    public void AttentionIsStableForHugeScores()
    {
        using var p = new Pair(_f, 9);
        const int heads = 2, headDim = 8, prefix = 40, rows = 2;
        var q = p.Activation(p.Random(rows * heads * headDim, 100f), rows, heads * headDim);
        var k = p.Activation(p.Random((prefix + rows) * heads * headDim, 100f), prefix + rows, heads * headDim);
        var v = p.Activation(p.Random((prefix + rows) * heads * headDim), prefix + rows, heads * headDim);
        var o = p.Activation(new float[rows * heads * headDim], rows, heads * headDim);
        var batch = new AttentionBatch(prefix, new[] { -1, 0 });
        _f.Gpu.Attention(q.Gpu, k.Gpu, v.Gpu, o.Gpu, heads, heads, headDim, batch);
        _f.Cpu.Attention(q.Cpu, k.Cpu, v.Cpu, o.Cpu, heads, heads, headDim, batch);
        float[] actual = p.ReadGpu(o.Gpu, rows * heads * headDim);
        Assert.All(actual, x => Assert.True(float.IsFinite(x)));
        AssertClose(p.ReadCpu(o.Cpu, rows * heads * headDim), actual, 1e-4, 1e-5, "huge scores");
    }

    [Fact]
    public void Q8WeightsAreRejectedClearly()
    {
        var host = new HostTensor("w", DType.Q8_0, new[] { 1, 32 }, 1, 34);
        var e = Assert.Throws<NotSupportedException>(() => _f.Gpu.UploadWeight(host));
        Assert.Contains("q8_0", e.Message);
        Assert.Contains("ilgpu", e.Message);
    }

    [Fact]
    public void Q4WeightsAreRejectedClearly()
    {
        var host = new HostTensor("w", DType.Q4_0, new[] { 1, 32 }, 1, 18);
        var e = Assert.Throws<NotSupportedException>(() => _f.Gpu.UploadWeight(host));
        Assert.Contains("q4_0", e.Message);
        Assert.Contains("ilgpu", e.Message);
    }

    internal static int[] RandomTree(Random rng, int n)
    {
        var parents = new int[n];
        for (int i = 0; i < n; i++) parents[i] = rng.Next(-1, i);
        return parents;
    }

    internal static void AssertClose(float[] expected, float[] actual, double relative, double absolute, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * Math.Abs(expected[i]) + absolute,
                $"{what}: element {i}: cpu {expected[i]}, gpu {actual[i]}");
    }
}
