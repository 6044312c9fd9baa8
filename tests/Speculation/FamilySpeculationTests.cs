using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Speculative decoding stays exact on every family: on each architecture probe, greedy output with
/// prompt lookup and with a random one-layer draft of the same family (same biases, q/k norms, window)
/// equals plain greedy, for chains and trees. Chains of 10 and trees of depth 10 pass tiny-mistral's window
/// of 8, so verification must mask by each node's depth.</summary>
public class FamilySpeculationTests
{
    private const int Tokens = 40;

    private static IEnumerable<GenerationOptions> Shapes()
    {
        yield return new GenerationOptions { MaxNewTokens = Tokens, DraftLength = DraftLengthPolicy.Fixed(3) };
        yield return new GenerationOptions { MaxNewTokens = Tokens, DraftLength = DraftLengthPolicy.Fixed(10) };
        yield return new GenerationOptions { MaxNewTokens = Tokens, Tree = TreeSpec.Parse("static:3x2x1x1") };
        yield return new GenerationOptions { MaxNewTokens = Tokens, Tree = TreeSpec.Parse("dynamic:20:10:3") };
    }

    [Theory]
    [MemberData(nameof(ProbeReference.Probes), MemberType = typeof(ProbeReference))]
    public void SpeculativeGreedyEqualsPlainGreedy(string model)
    {
        string dir = TestModels.Path(model);
        var config = ModelConfig.Load(dir);
        using var backend = new CpuBackend(2);
        using var weights = CheckpointWeights.Open(dir);
        using var target = TransformerModel.Create(config, weights, backend);
        var draftConfig = config with { Layers = 1 };
        using var draftWeights = new SyntheticWeights(draftConfig, seed: 3);
        using var draft = TransformerModel.Create(draftConfig, draftWeights, backend);

        foreach (var c in ProbeReference.Load(model).Cases.Take(2))
        {
            int[] expected;
            using (var plain = new Generator(target))
                expected = plain.Generate(c.PromptIds, new GenerationOptions { MaxNewTokens = Tokens }).Tokens;
            foreach (GenerationOptions options in Shapes())
            {
                string shape = options.Tree?.ToString() ?? $"chain k={options.DraftLength}";
                using (var spec = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft")))
                    Assert.True(expected.SequenceEqual(spec.Generate(c.PromptIds, options).Tokens), $"{model} '{c.Prompt}' draft model, {shape}: differs from plain greedy");
                using (var lookup = new Generator(target, new PromptLookupDrafter(config.VocabSize)))
                    Assert.True(expected.SequenceEqual(lookup.Generate(c.PromptIds, options).Tokens), $"{model} '{c.Prompt}' prompt lookup, {shape}: differs from plain greedy");
            }
        }
    }
}
