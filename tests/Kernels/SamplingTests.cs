using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>The host sampler's rule (candidate order, explicit uniforms) and the CPU backend's SampleTokens.</summary>
public class SamplingTests
{
    /// <summary>Sample(logits) is DrawUniforms for one row plus Sample(logits, uniform): same tokens, same stream.</summary>
    [Theory]
    [InlineData(0f, 0, 1f)]
    [InlineData(1f, 0, 1f)]
    [InlineData(0.8f, 10, 0.9f)]
    public void SampleEqualsDrawnUniformPlusSample(float temperature, int topK, float topP)
    {
        var options = new SamplingOptions(temperature, topK, topP, Seed: 7);
        var a = new Sampler(50, options);
        var b = new Sampler(50, options);
        var rng = new Random(3);
        Span<float> u = stackalloc float[1];
        for (int i = 0; i < 200; i++)
        {
            float[] logits = SamplingTestUtil.RandomLogits(rng, 50, 4f);
            b.DrawUniforms(u);
            Assert.Equal(a.Sample(logits), b.Sample(logits, u[0]));
        }
        Assert.Equal(a.Random.NextUInt64(), b.Random.NextUInt64());
    }

    /// <summary>Ties are ordered by id: top-k = 2 over four equal logits keeps ids 0 and 1 whatever the size.</summary>
    [Theory]
    [InlineData(4)]
    [InlineData(300)]
    public void TopKTiesKeepTheLowestIds(int vocab)
    {
        var sampler = new Sampler(vocab, new SamplingOptions(1f, TopK: vocab / 2));
        var logits = new float[vocab];
        var q = new float[vocab];
        sampler.Distribution(logits, q);
        for (int i = 0; i < vocab; i++) Assert.Equal(i < vocab / 2 ? 1f / (vocab / 2) : 0f, q[i], 6);
    }

    /// <summary>Top-p below 1/n (no token reaches llama2.c's cut-off) still keeps the most likely token.</summary>
    [Fact]
    public void TinyTopPKeepsTheMostLikelyToken()
    {
        var sampler = new Sampler(2, new SamplingOptions(1f, TopP: 0.3f));
        var q = new float[2];
        sampler.Distribution(new[] { 0.1f, 0.2f }, q);
        Assert.Equal(new[] { 0f, 1f }, q);
        Assert.Equal(1, sampler.Sample(new[] { 0.1f, 0.2f }, 0.5f));
    }

    /// <summary>CpuBackend.SampleTokens is the host sampler row by row: exact, including ties.</summary>
    [Fact]
    public void CpuBackendMatchesSampler()
    {
        using var backend = new CpuBackend(1);
        var rng = new Random(11);
        foreach (int vocab in SamplingTestUtil.Vocabs)
            foreach (SamplingOptions options in SamplingTestUtil.Options.Append(SamplingOptions.Greedy))
            {
                var (_, random) = SamplingTestUtil.Compare(backend, vocab, options, rng, 5, 3, (r, n) => SamplingTestUtil.RandomLogits(r, n, 3f));
                var (_, tied) = SamplingTestUtil.Compare(backend, vocab, options, rng, 5, 3, SamplingTestUtil.TiedLogits);
                Assert.Equal(0, random + tied);
            }
    }

    /// <summary>Greedy SampleTokens is ArgMax and needs no uniforms.</summary>
    [Fact]
    public void CpuGreedyNeedsNoUniforms()
    {
        using var backend = new CpuBackend(1);
        using var t = backend.Allocate(DType.F32, 2, 5);
        backend.Write(t, new float[] { 1, 3, 3, 0, 2, 9, 1, 1, 9, 0 });
        var result = new int[2];
        backend.SampleTokens(t, 2, SamplingOptions.Greedy, default, result);
        Assert.Equal(new[] { 1, 0 }, result);
    }
}
