using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Greedy speculative decoding must reproduce plain greedy decoding token for token.</summary>
public class GreedyEquivalenceTests
{
    public static TheoryData<string> DraftLengths => new() { "1", "2", "3", "4", "5", "6", "7", "8", "auto" };

    private static int[] Plain(TransformerModel target, int[] prompt, int n)
    {
        using var g = new Generator(target);
        return g.Generate(prompt, new GenerationOptions { MaxNewTokens = n }).Tokens;
    }

    [Theory]
    [MemberData(nameof(DraftLengths))]
    public void TinyRandomPairMatchesPlainGreedy(string k)
    {
        var config = BatchForwardTests.TinyConfig(vocab: 16);
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, tw, backend);
        // The draft shares most of the target's behaviour on a tiny vocabulary but not all of it.
        using var dw = new SyntheticWeights(config with { Layers = 1 }, seed: 11);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, dw, backend);
        int[] prompt = { 1, 5, 9, 3 };
        int[] expected = Plain(target, prompt, 60);

        using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "tiny-draft");
        using var spec = new Generator(target, drafter);
        var (tokens, stats) = spec.Generate(prompt, new GenerationOptions { MaxNewTokens = 60, DraftLength = DraftLengthPolicy.Parse(k) });
        Assert.Equal(expected, tokens);
        Assert.True(stats.Rounds < 60, "speculation should need fewer target passes than tokens");

        using var lookup = new Generator(target, new PromptLookupDrafter(config.VocabSize));
        Assert.Equal(expected, lookup.Generate(prompt, new GenerationOptions { MaxNewTokens = 60, DraftLength = DraftLengthPolicy.Parse(k) }).Tokens);
    }

    [Fact]
    public void IdenticalDraftAcceptsEverything()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var w = new SyntheticWeights(config, seed: 5);
        using var target = TransformerModel.Create(config, w, backend);
        using var draft = TransformerModel.Create(config, w, backend);
        int[] prompt = { 1, 2 };
        int[] expected = Plain(target, prompt, 41);
        using var spec = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "same"));
        var (tokens, stats) = spec.Generate(prompt, new GenerationOptions { MaxNewTokens = 41, DraftLength = DraftLengthPolicy.Fixed(4) });
        Assert.Equal(expected, tokens);
        Assert.Equal(1.0, stats.AcceptanceRate, 6);
        Assert.Equal(8, stats.Rounds); // 1 from prefill + 8 rounds × 5 tokens
    }

    [Theory]
    [MemberData(nameof(ModelPair.RealPairs), MemberType = typeof(ModelPair))]
    public void RealPairsMatchPlainGreedy(string targetName, string draftName)
    {
        using var pair = ModelPair.Real(targetName, draftName);
        TransformerModel target = pair.Target, draft = pair.Draft;
        var prompts = ReferencePrompts(targetName).Take(3).ToList();
        foreach (int[] prompt in prompts)
        {
            int[] expected = Plain(target, prompt, 128);
            foreach (string k in new[] { "1", "3", "4", "8", "auto" })
            {
                using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, draftName);
                using var spec = new Generator(target, drafter);
                var (tokens, stats) = spec.Generate(prompt, new GenerationOptions { MaxNewTokens = 128, DraftLength = DraftLengthPolicy.Parse(k) });
                Assert.True(expected.SequenceEqual(tokens), $"{targetName}←{draftName} k={k}: speculative output differs from plain greedy");
                Assert.True(stats.AcceptanceRate > 0.3, $"acceptance {stats.AcceptanceRate} is implausibly low for a real pair");
            }
            using var lookup = new Generator(target, new PromptLookupDrafter(target.Config.VocabSize));
            Assert.Equal(expected, lookup.Generate(prompt, new GenerationOptions { MaxNewTokens = 128, DraftLength = DraftLengthPolicy.Fixed(4) }).Tokens);
        }
    }

    internal static IEnumerable<int[]> ReferencePrompts(string model)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.greedy.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToList();
    }
}
