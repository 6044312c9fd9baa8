using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Heads;
using SpecCore.Speculation.Trees;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Medusa heads: the forward against a float64 reference, refusals, mc_sim_7b_63 cut to the heads, greedy
/// output equal to plain greedy (chains, the candidate tree, a static tree) and lossless sampling.</summary>
public sealed class MedusaTests : IDisposable
{
    private readonly List<string> _folders = new();

    private (string Folder, Dictionary<string, float[]> Tensors) Write(ModelConfig config, int heads, int seed = 1, int layers = 1,
        Action<Dictionary<string, float[]>, Dictionary<string, int[]>>? tamper = null)
    {
        var r = TestMedusa.Write(config, heads, seed, layers, tamper);
        _folders.Add(r.Folder);
        return r;
    }

    public void Dispose()
    {
        foreach (string f in _folders) Directory.Delete(f, true);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ForwardMatchesScalarReference(int layers)
    {
        var config = BatchForwardTests.TinyConfig(vocab: 48);
        using var weights = new SyntheticWeights(config, seed: 5);
        using var backend = new CpuBackend(1);
        using var target = TransformerModel.Create(config, weights, backend);
        var (folder, w) = Write(config, heads: 3, layers: layers);
        using var heads = MedusaHeads.Load(folder, target);
        using var state = target.CreateState(features: new TargetFeatureRequest(Array.Empty<int>(), FinalHidden: true));
        target.Forward(state, new[] { 1, 7, 30, 2 });
        int h = config.HiddenSize, v = config.VocabSize;
        using var hidden = backend.Allocate(SpecCore.Tensors.DType.F32, 1, h);
        backend.CopyRows(state.Features!.FinalHidden!, 3, hidden, 0, 1);
        float[] logits = heads.Forward(hidden).ToArray();
        var x0 = new float[h];
        state.Features.ReadFinalHidden(3, x0);
        for (int i = 0; i < 3; i++)
        {
            double[] x = x0.Select(f => (double)f).ToArray();
            for (int j = 0; j < layers; j++)
            {
                float[] wm = w[$"{i}.{j}.linear.weight"], b = w[$"{i}.{j}.linear.bias"];
                var y = new double[h];
                for (int o = 0; o < h; o++)
                {
                    double s = b[o];
                    for (int k = 0; k < h; k++) s += wm[o * h + k] * x[k];
                    y[o] = s / (1 + Math.Exp(-s));
                }
                for (int o = 0; o < h; o++) x[o] += y[o];
            }
            float[] lm = w[$"{i}.{layers}.weight"];
            for (int t = 0; t < v; t++)
            {
                double s = 0;
                for (int k = 0; k < h; k++) s += lm[t * h + k] * x[k];
                Assert.True(Math.Abs(logits[i * v + t] - s) <= 1e-4, $"head {i}, token {t}: {logits[i * v + t]} vs {s}");
            }
        }
    }

    [Fact]
    public void WrongShapeAndMissingKeyAreRefused()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 48);
        using var weights = new SyntheticWeights(config, seed: 5);
        using var backend = new CpuBackend(1);
        using var target = TransformerModel.Create(config, weights, backend);
        var (shapeFolder, _) = Write(config, 2, tamper: (t, s) => { t["1.1.weight"] = new float[47 * 32]; s["1.1.weight"] = new[] { 47, 32 }; });
        var e = Assert.Throws<InvalidDataException>(() => MedusaHeads.Load(shapeFolder, target));
        Assert.Contains("medusa_lm_head.safetensors: tensor '1.1.weight' has shape [47, 32] but the config implies [48, 32]", e.Message);
        var (missingFolder, _) = Write(config, 2, tamper: (t, _) => t.Remove("0.0.linear.bias"));
        e = Assert.Throws<InvalidDataException>(() => MedusaHeads.Load(missingFolder, target));
        Assert.Contains("tensor '0.0.linear.bias' is missing", e.Message);
    }

    [Fact]
    public void CandidateTreeIsCutToTheHeads()
    {
        Assert.Equal(63, MedusaChoices.McSim7b63.Count);
        var four = MedusaChoices.ForHeads(MedusaChoices.McSim7b63, 4);
        Assert.Equal(63, four.Length);
        var two = MedusaChoices.ForHeads(MedusaChoices.McSim7b63, 2);
        Assert.Equal(MedusaChoices.McSim7b63.Count(p => p.Length <= 2), two.Length);
        Assert.All(two, p => Assert.True(p.Length <= 2));
        for (int i = 1; i < four.Length; i++) Assert.True(four[i - 1].Length <= four[i].Length, "paths are sorted by length");
    }

    public static TheoryData<string> Settings => new() { "chain:3", "chain:1", "dynamic:63", "dynamic:16", "static:3x2x1" };

    [Theory]
    [MemberData(nameof(Settings))]
    public void GreedyMatchesPlainGreedy(string setting)
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, weights, backend);
        int[] prompt = { 1, 5, 9, 3 };
        int[] expected;
        using (var plain = new Generator(target)) expected = plain.Generate(prompt, new GenerationOptions { MaxNewTokens = 40, IgnoreEos = true }).Tokens;
        int[] reference = prompt.Concat(expected).ToArray();
        var (folder, _) = Write(config, heads: 3);
        foreach (double alpha in new[] { 0.0, 0.8 })
        {
            var medusa = new MedusaDrafter(MedusaHeads.Load(folder, target), target.DefaultCapacity, "medusa");
            using var drafter = new OracleMixDrafter(medusa, reference, alpha);
            using var generator = new Generator(target, drafter);
            var (tokens, stats) = generator.Generate(prompt, Eagle3DrafterTests.Options(setting, 40));
            Assert.Equal(expected, tokens);
            Assert.True(stats.DraftedTokens > 0);
            if (alpha > 0) Assert.True(stats.AcceptedTokens > 0);
        }
    }

    [Theory]
    [InlineData("chain:2")]
    [InlineData("dynamic:12")]
    public void SamplingMatchesTargetDistribution(string setting)
    {
        const int vocab = 8;
        var config = BatchForwardTests.TinyConfig(vocab: vocab);
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 21);
        using var target = TransformerModel.Create(config, tw, backend);
        double[] exact = SamplingLosslessness.ExactJoint(target, vocab, 1f);
        var options = new SamplingOptions(1f);
        using var drafter = new MedusaDrafter(MedusaHeads.Load(Write(config, 2, seed: 4).Folder, target), 64, "medusa");
        using var generator = new Generator(target, drafter);
        const int samples = 20000;
        var counts = new double[vocab * vocab];
        long accepted = 0;
        for (int s = 0; s < samples; s++)
        {
            var (tokens, stats) = generator.Generate(SamplingLosslessness.Prompt, Eagle3DrafterTests.Options(setting, 3, options with { Seed = (ulong)s + 1 }));
            counts[tokens[0] * vocab + tokens[1]]++;
            accepted += stats.AcceptedTokens;
        }
        double tv = SamplingLosslessness.TotalVariation(counts.Select(c => c / samples).ToArray(), exact);
        double bound = Math.Sqrt(vocab * vocab / (double)samples);
        Assert.True(tv < bound, $"{setting}: TV to the target's distribution {tv:F4} exceeds {bound:F4}");
        Assert.True(accepted > samples / 100, $"drafts should be accepted some of the time ({accepted})");
    }
}
