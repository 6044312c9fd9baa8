using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Speculative sampling must leave the output distribution exactly the target's. Checked on a tiny
/// vocabulary: the empirical joint distribution of the first two generated tokens (the second one comes out of
/// a speculative round) against the exact joint computed from the target, within a total-variation bound
/// derived from the sample count.</summary>
public class SamplingLosslessnessTests
{
    private const int Vocab = 8;
    private static readonly int[] Prompt = { 1, 3 };

    private static double[] ExactJoint(TransformerModel model, float temperature)
    {
        var sampler = new Sampler(Vocab, new SamplingOptions(temperature));
        var p0 = new float[Vocab];
        var p1 = new float[Vocab];
        using var state = model.CreateState();
        sampler.Distribution(model.Forward(state, Prompt, default, LogitsRows.Last), p0);
        var joint = new double[Vocab * Vocab];
        for (int a = 0; a < Vocab; a++)
        {
            state.Cache.Truncate(Prompt.Length);
            sampler.Distribution(model.Forward(state, new[] { a }), p1);
            for (int b = 0; b < Vocab; b++) joint[a * Vocab + b] = p0[a] * p1[b];
        }
        return joint;
    }

    private static double TotalVariation(double[] p, double[] q)
    {
        double tv = 0;
        for (int i = 0; i < p.Length; i++) tv += Math.Abs(p[i] - q[i]);
        return tv / 2;
    }

    [Theory]
    [InlineData(1, 1.0f)]
    [InlineData(2, 1.0f)]
    [InlineData(4, 0.7f)]
    public void ChainSpeculativeSamplingMatchesTargetDistribution(int k, float temperature)
    {
        var config = BatchForwardTests.TinyConfig(vocab: Vocab);
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 21);
        using var target = TransformerModel.Create(config, tw, backend);
        // A deliberately different draft: other weights entirely.
        using var dw = new SyntheticWeights(config with { Layers = 1 }, seed: 99);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, dw, backend);

        double[] exact = ExactJoint(target, temperature);
        double[] draftJoint = ExactJoint(draft, temperature);

        const int samples = 24000;
        var counts = new double[Vocab * Vocab];
        var options = new SamplingOptions(temperature);
        using var drafter = new DraftModelDrafter(draft, options, "draft");
        using var generator = new Generator(target, drafter);
        long accepted = 0;
        for (int s = 0; s < samples; s++)
        {
            var sampling = options with { Seed = (ulong)s + 1 };
            var (tokens, stats) = generator.Generate(Prompt, new GenerationOptions { MaxNewTokens = 3, Sampling = sampling, DraftLength = DraftLengthPolicy.Fixed(k) });
            counts[tokens[0] * Vocab + tokens[1]]++;
            accepted += stats.AcceptedTokens;
        }
        for (int i = 0; i < counts.Length; i++) counts[i] /= samples;

        // E[TV] ≤ ½ Σ sqrt(p(1−p)/N) ≤ ½ sqrt(V²/N); allow 2× that.
        double bound = Math.Sqrt(Vocab * Vocab / (double)samples);
        double tv = TotalVariation(counts, exact);
        Assert.True(tv < bound, $"k={k}: TV to the target's distribution {tv:F4} exceeds {bound:F4}");
        // The test has power: the draft's own distribution is far outside the bound.
        Assert.True(TotalVariation(draftJoint, exact) > 3 * bound, "draft and target distributions are too close for this test to mean anything");
        Assert.True(accepted > samples / 10, "drafts should be accepted some of the time");
    }
}
