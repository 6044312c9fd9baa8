using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

public class DrafterValidationTests
{
    [Fact]
    public void DrafterWithAnotherVocabularyIsRefused()
    {
        using var backend = new CpuBackend(1);
        var targetConfig = BatchForwardTests.TinyConfig(vocab: 16);
        var draftConfig = BatchForwardTests.TinyConfig(vocab: 32);
        using var tw = new SyntheticWeights(targetConfig, seed: 1);
        using var dw = new SyntheticWeights(draftConfig, seed: 2);
        using var target = TransformerModel.Create(targetConfig, tw, backend);
        using var draft = TransformerModel.Create(draftConfig, dw, backend);
        using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "wide-draft");
        var e = Assert.Throws<GenerationException>(() => new Generator(target, drafter));
        Assert.Contains("vocabulary of 32 tokens but the target has 16", e.Message);
    }

    [Fact]
    public void PairIsCappedAtTheSmallerContext()
    {
        using var backend = new CpuBackend(1);
        var targetConfig = BatchForwardTests.TinyConfig(vocab: 16);
        using var tw = new SyntheticWeights(targetConfig, seed: 1);
        using var target = TransformerModel.Create(targetConfig, tw, backend);
        using var draft = TransformerModel.Create(targetConfig with { MaxPositions = 40 }, tw, backend);
        using var generator = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "short-draft"));
        Assert.Equal(40, generator.Capacity);
        var (tokens, stats) = generator.Generate(new[] { 1, 2 }, new GenerationOptions { MaxNewTokens = 100 });
        Assert.Equal(StopReason.ContextFull, stats.StopReason);
        Assert.True(tokens.Length <= 39);
    }

    [Fact]
    public void PromptLookupProposesTheContinuationOfTheLatestMatch()
    {
        var lookup = new PromptLookupDrafter(vocabSize: 100);
        int[] sequence = { 5, 6, 7, 8, 9, 1, 5, 6, 7, 2, 3, 5, 6 };
        int start = lookup.FindContinuation(sequence, out int n);
        // "5 6" occurs at 6..7 (most recent earlier match) followed by 7.
        Assert.Equal(2, n);
        Assert.Equal(8, start);
        var tree = new SpecCore.Speculation.Trees.DraftTree(4, 100);
        lookup.Propose(sequence, new DraftRequest(3, 3), tree);
        Assert.Equal(new[] { 7, 2, 3 }, tree.Tokens.ToArray());
    }
}
