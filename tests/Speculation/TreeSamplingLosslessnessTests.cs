using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;
using SpecCore.Speculation.Verification;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>
/// Multi-draft (tree) speculative sampling must leave the output distribution exactly the target's. On a vocabulary
/// of 8 with a deliberately different draft, the empirical joint distribution of the first speculative token and
/// the one after it (t1, t2: depth 1 and depth 2 of the tree, or recovered/bonus tokens) is compared with the exact
/// joint computed from the target, within a total-variation bound derived from the sample count. The same bound
/// must reject a deliberately broken verifier, so the test can fail.
/// </summary>
public class TreeSamplingLosslessnessTests
{
    private const int Vocab = 8;
    private const int Samples = 16000;
    private static readonly int[] Prompt = { 1, 3 };

    /// <summary>Exact P(t1, t2) = Σ_t0 p(t0) p(t1 | t0) p(t2 | t0 t1) under the sampler's filtering.</summary>
    private static double[] ExactJoint(TransformerModel model, SamplingOptions options)
    {
        var sampler = new Sampler(Vocab, options);
        var p0 = new float[Vocab];
        var p1 = new float[Vocab];
        var p2 = new float[Vocab];
        using var state = model.CreateState();
        sampler.Distribution(model.Forward(state, Prompt, default, LogitsRows.Last), p0);
        var joint = new double[Vocab * Vocab];
        for (int a = 0; a < Vocab; a++)
        {
            state.Cache.Truncate(Prompt.Length);
            sampler.Distribution(model.Forward(state, new[] { a }), p1);
            for (int b = 0; b < Vocab; b++)
            {
                state.Cache.Truncate(Prompt.Length + 1);
                sampler.Distribution(model.Forward(state, new[] { b }), p2);
                for (int c = 0; c < Vocab; c++) joint[b * Vocab + c] += (double)p0[a] * p1[b] * p2[c];
            }
        }
        return joint;
    }

    private static double TotalVariation(double[] p, double[] q)
    {
        double tv = 0;
        for (int i = 0; i < p.Length; i++) tv += Math.Abs(p[i] - q[i]);
        return tv / 2;
    }

    /// <summary>E[TV] ≤ ½ Σ sqrt(p(1 − p) / N) ≤ ½ sqrt(cells / N); the bound allows twice that.</summary>
    private static double Bound(int cells, int samples) => Math.Sqrt(cells / (double)samples);

    private sealed record Outcome(double Tv, double DraftTv, double Bound, double AcceptedPerRound);

    private static Outcome Run(GenerationOptions options, VerifierFault fault, float temperature, int samples = Samples)
    {
        var config = BatchForwardTests.TinyConfig(vocab: Vocab);
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 21);
        using var target = TransformerModel.Create(config, tw, backend);
        using var dw = new SyntheticWeights(config with { Layers = 1 }, seed: 99);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, dw, backend);
        var sampling = new SamplingOptions(temperature);
        double[] exact = ExactJoint(target, sampling);
        double[] draftJoint = ExactJoint(draft, sampling);

        var counts = new double[Vocab * Vocab];
        using var drafter = new DraftModelDrafter(draft, sampling, "draft");
        using var generator = new Generator(target, drafter) { VerifierFault = fault };
        long accepted = 0, rounds = 0;
        for (int s = 0; s < samples; s++)
        {
            var (tokens, stats) = generator.Generate(Prompt, options with { MaxNewTokens = 3, Sampling = sampling with { Seed = (ulong)s + 1 } });
            counts[tokens[1] * Vocab + tokens[2]]++;
            accepted += stats.AcceptedTokens;
            rounds += stats.Rounds;
        }
        for (int i = 0; i < counts.Length; i++) counts[i] /= samples;
        return new Outcome(TotalVariation(counts, exact), TotalVariation(draftJoint, exact), Bound(counts.Length, samples), (double)accepted / rounds);
    }

    public static TheoryData<string, float> Trees => new()
    {
        { "static:3x2", 1f },
        { "static:4x3x1", 0.8f },
        { "dynamic:10:3:3", 1f },
    };

    [Theory]
    [MemberData(nameof(Trees))]
    public void TreeSamplingMatchesTargetDistribution(string tree, float temperature)
    {
        var o = Run(new GenerationOptions { Tree = TreeSpec.Parse(tree) }, VerifierFault.None, temperature);
        Assert.True(o.Tv < o.Bound, $"{tree}: TV to the target's distribution {o.Tv:F4} exceeds {o.Bound:F4}");
        Assert.True(o.DraftTv > 3 * o.Bound, $"draft and target distributions are too close ({o.DraftTv:F4}) for this test to mean anything");
        Assert.True(o.AcceptedPerRound > 0.3, $"drafts should be accepted often ({o.AcceptedPerRound:F2} per round)");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ChainSamplingMatchesTargetDistribution(int k)
    {
        var o = Run(new GenerationOptions { DraftLength = DraftLengthPolicy.Fixed(k) }, VerifierFault.None, 1f);
        Assert.True(o.Tv < o.Bound, $"chain k={k}: TV to the target's distribution {o.Tv:F4} exceeds {o.Bound:F4}");
    }

    [Fact]
    public void BrokenVerifiersFailTheSameBound()
    {
        // Accepting every draft token hands out the draft's distribution.
        var always = Run(new GenerationOptions { Tree = TreeSpec.Parse("static:3x2") }, VerifierFault.AcceptAlways, 1f, 4000);
        Assert.True(always.Tv > always.Bound, $"an always-accepting tree verifier went unnoticed: TV {always.Tv:F4} ≤ {always.Bound:F4}");
        var chain = Run(new GenerationOptions { DraftLength = DraftLengthPolicy.Fixed(2) }, VerifierFault.AcceptAlways, 1f, 4000);
        Assert.True(chain.Tv > chain.Bound, $"an always-accepting chain verifier went unnoticed: TV {chain.Tv:F4} ≤ {chain.Bound:F4}");
    }
}
