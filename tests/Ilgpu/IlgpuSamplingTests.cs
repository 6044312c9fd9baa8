using SpecCore.Kernels.Sampling;
using SpecCore.Tests.Kernels;
using Xunit.Abstractions;

namespace SpecCore.Tests.Ilgpu;

/// <summary>The device sampling kernel against the host <see cref="Sampler"/>: the same token for the same
/// uniform, up to rounding at a CDF or cut boundary (see <see cref="SamplingTestUtil"/>), which must be rare.</summary>
[Collection("ilgpu")]
public class IlgpuSamplingTests
{
    private readonly IlgpuFixture _f;
    private readonly ITestOutputHelper _out;

    public IlgpuSamplingTests(IlgpuFixture f, ITestOutputHelper output)
    {
        _f = f;
        _out = output;
    }

    public static TheoryData<int> VocabCases()
    {
        var data = new TheoryData<int>();
        foreach (int v in SamplingTestUtil.Vocabs) data.Add(v);
        return data;
    }

    /// <summary>Greedy, temperature only, top-k, top-p and both, on random and heavily tied logits, at vocabulary
    /// sizes from 1 to beyond the group size (non-multiples included), with uniforms 0, just below 1 and random.</summary>
    [Theory]
    [MemberData(nameof(VocabCases))]
    public void SampleTokensMatchesHostSampler(int vocab)
    {
        var rng = new Random(vocab);
        int rows = vocab > 1000 ? 3 : 4, rounds = vocab > 1000 ? 1 : 2;
        int draws = 0, mismatches = 0;
        foreach (SamplingOptions options in SamplingTestUtil.Options.Append(SamplingOptions.Greedy))
        {
            var random = SamplingTestUtil.Compare(_f.Gpu, vocab, options, rng, rows, rounds, (r, n) => SamplingTestUtil.RandomLogits(r, n, 4f));
            var tied = SamplingTestUtil.Compare(_f.Gpu, vocab, options, rng, rows, rounds, SamplingTestUtil.TiedLogits);
            draws += random.Draws + tied.Draws;
            mismatches += random.Mismatches + tied.Mismatches;
        }
        _out.WriteLine($"vocab {vocab}: {mismatches} boundary mismatches in {draws} draws");
        Assert.True(mismatches <= Math.Max(1, draws / 100), $"{mismatches} boundary mismatches in {draws} draws");
    }

    /// <summary>Many uniforms over one fixed distribution (top-k and top-p on a 300-token vocabulary): every
    /// rank of the CDF is hit, and the device picks the host's token each time.</summary>
    [Fact]
    public void ManyUniformsOverOneDistribution()
    {
        const int vocab = 300, rows = 48;
        var rng = new Random(77);
        float[] row = SamplingTestUtil.RandomLogits(rng, vocab, 3f);
        var options = new SamplingOptions(0.9f, TopK: 60, TopP: 0.8f);
        var (draws, mismatches) = SamplingTestUtil.Compare(_f.Gpu, vocab, options, rng, rows, 2, (_, n) =>
        {
            var v = new float[n];
            for (int i = 0; i < n; i += vocab) row.CopyTo(v, i);
            return v;
        });
        Assert.True(mismatches <= draws / 100, $"{mismatches} boundary mismatches in {draws} draws");
    }
}

/// <summary>ForwardSample and sampled generation on the ILGPU backend.</summary>
[Collection("ilgpu")]
public class IlgpuForwardSampleTests
{
    private readonly IlgpuFixture _f;

    public IlgpuForwardSampleTests(IlgpuFixture f) => _f = f;

    /// <summary>Device sampling equals the device's own logits sampled on the host (boundary mismatches only, rare).</summary>
    [Fact]
    public void ForwardSampleEqualsForwardPlusSampler()
    {
        var config = SpecCore.Tests.Models.BatchForwardTests.TinyConfig();
        using var weights = new SpecCore.Models.SyntheticWeights(config, seed: 3);
        using var model = SpecCore.Models.TransformerModel.Create(config, weights, _f.ModelGpu);
        Assert.True(SpecCore.Tests.Models.ForwardSampleCheck.Run(model, 5) <= 1);
    }

    /// <summary>A seeded sampled generation (top-k and top-p) and a greedy one on the ILGPU backend equal the CPU
    /// backend's token for token: both draw the same uniforms, the device samples on its own logits.</summary>
    [Theory]
    [InlineData(0f, 0, 1f)]
    [InlineData(0.9f, 20, 0.9f)]
    [InlineData(1f, 0, 1f)]
    public void SampledGenerationEqualsCpu(float temperature, int topK, float topP)
    {
        var config = SpecCore.Models.ModelPresets.Get("tiny");
        using var weights = new SpecCore.Models.SyntheticWeights(config, seed: 11);
        using var cpu = SpecCore.Models.TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = SpecCore.Models.TransformerModel.Create(config, weights, _f.ModelGpu);
        var options = new SpecCore.Speculation.Generation.GenerationOptions
        {
            MaxNewTokens = 24,
            Sampling = new SamplingOptions(temperature, topK, topP, Seed: 2024),
        };
        int[] prompt = { 1, 17, 5, 42, 9 };
        using var cg = new SpecCore.Speculation.Generation.Generator(cpu);
        using var gg = new SpecCore.Speculation.Generation.Generator(gpu);
        Assert.Equal(cg.Generate(prompt, options).Tokens, gg.Generate(prompt, options).Tokens);
    }
}
