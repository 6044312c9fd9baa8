using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Tensors;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>The F16 KV cache on the CPU backend: keys and values stored through CopyRows (round to nearest F16) give
/// exactly the attention of an F32 cache holding the same F16-rounded values, on the SIMD and portable paths, for
/// chains, trees and sliding windows; compaction moves F16 rows; a model with an F16 cache agrees with its F32-cache
/// self batched and stepped.</summary>
public unsafe class F16KvCacheTests
{
    public static TheoryData<int, bool, int> Cases()
    {
        var data = new TheoryData<int, bool, int>();
        foreach (int hd in new[] { 8, 12, 24, 64, 72 })
            foreach (bool scalar in new[] { false, true })
                data.Add(hd, scalar, hd == 64 ? 2 : 1);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void F16CacheEqualsF32CacheOfRoundedValues(int headDim, bool forceScalar, int threads)
    {
        var rng = new Random(headDim + 7);
        using var backend = new CpuBackend(threads, forceScalar);
        const int heads = 4, kvHeads = 2;
        int qDim = heads * headDim, kvDim = kvHeads * headDim;
        foreach (int prefix in new[] { 0, 9, 40 })
        {
            foreach (int[] parents in new[] { new[] { -1 }, new[] { -1, 0, 0, 1, 2 } })
            {
                foreach (int window in new[] { 0, 3 })
                {
                    int n = parents.Length, cap = prefix + n;
                    float[] q = RandomFloats(rng, n * qDim, 3f), k = RandomFloats(rng, cap * kvDim), v = RandomFloats(rng, cap * kvDim);
                    float[] kr = Rounded(k), vr = Rounded(v);
                    using var qt = Activations(q, n, qDim);
                    using var ks = Activations(k, cap, kvDim);
                    using var vs = Activations(v, cap, kvDim);
                    using var k16 = backend.Allocate(DType.F16, cap, kvDim);
                    using var v16 = backend.Allocate(DType.F16, cap, kvDim);
                    backend.CopyRows(ks, 0, k16, 0, cap);
                    backend.CopyRows(vs, 0, v16, 0, cap);
                    using var k32 = Activations(kr, cap, kvDim);
                    using var v32 = Activations(vr, cap, kvDim);
                    using var o16 = Activations(new float[n * qDim], n, qDim);
                    using var o32 = Activations(new float[n * qDim], n, qDim);
                    var batch = new AttentionBatch(prefix, parents, window);
                    backend.Attention(qt, k16, v16, o16, heads, kvHeads, headDim, batch);
                    backend.Attention(qt, k32, v32, o32, heads, kvHeads, headDim, batch);
                    Assert.Equal(o32.F32.ToArray(), o16.F32.ToArray());
                }
            }
        }
    }

    [Fact]
    public void CopyRowsRoundsToNearestAndGatherMovesF16Rows()
    {
        using var backend = new CpuBackend(1);
        var rng = new Random(3);
        float[] x = RandomFloats(rng, 6 * 5, 10f);
        using var src = Activations(x, 6, 5);
        using var t = (CpuTensor)backend.Allocate(DType.F16, 8, 5);
        backend.CopyRows(src, 1, t, 2, 5);
        ushort* h = (ushort*)t.Pointer;
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 5; c++)
                Assert.Equal(FloatConversion.FloatToF16(x[(1 + r) * 5 + c]), h[(2 + r) * 5 + c]);
        ushort[] before = new ReadOnlySpan<ushort>(h, 40).ToArray();
        backend.GatherRows(t, new[] { 3, 5, 6 }, 2);
        for (int c = 0; c < 5; c++)
        {
            Assert.Equal(before[3 * 5 + c], h[2 * 5 + c]);
            Assert.Equal(before[5 * 5 + c], h[3 * 5 + c]);
            Assert.Equal(before[6 * 5 + c], h[4 * 5 + c]);
        }
    }

    [Fact]
    public void ModelWithF16CacheMatchesStepsAndStaysCloseToF32Cache()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 21);
        using var backend = new CpuBackend(2);
        using var f16 = TransformerModel.Create(config, weights, backend, kvType: DType.F16);
        using var f32 = TransformerModel.Create(config, weights, backend);
        Assert.Equal(DType.F16, f16.KvCacheType);
        Assert.Equal(DType.F32, f32.KvCacheType); // a tiny model defaults to F32
        int[] tokens = { 1, 17, 5, 42, 9, 63, 0, 31, 8 };
        using var batched = f16.CreateState();
        Assert.Equal(DType.F16, batched.Cache.DType);
        float[] batch = f16.Forward(batched, tokens).ToArray();
        using var stepped = f16.CreateState();
        using var reference = f32.CreateState();
        float[] full = f32.Forward(reference, tokens).ToArray();
        for (int i = 0; i < tokens.Length; i++)
        {
            ReadOnlySpan<float> step = f16.Forward(stepped, tokens.AsSpan(i, 1));
            for (int v = 0; v < config.VocabSize; v++)
            {
                Assert.True(Math.Abs(step[v] - batch[i * config.VocabSize + v]) <= 1e-4, $"token {i} vocab {v}: step {step[v]}, batch {batch[i * config.VocabSize + v]}");
                Assert.True(Math.Abs(full[i * config.VocabSize + v] - batch[i * config.VocabSize + v]) <= 2e-2, $"token {i} vocab {v}: f16 cache {batch[i * config.VocabSize + v]}, f32 cache {full[i * config.VocabSize + v]}");
            }
        }
    }

    [Fact]
    public void KvTypeOtherThanF32OrF16IsRefused()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 21);
        using var backend = new CpuBackend(1);
        Assert.Throws<ArgumentException>(() => TransformerModel.Create(config, weights, backend, kvType: DType.BF16));
    }

    private static float[] Rounded(float[] x)
    {
        var r = new float[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = FloatConversion.F16ToFloat(FloatConversion.FloatToF16(x[i]));
        return r;
    }
}
