using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Where a generation ends: any EOS id of the model (plain and speculative, also inside an accepted draft
/// run), never with IgnoreEos, at a sink's request, and how much KV cache a generator allocates.</summary>
public class StopTests
{
    private static readonly int[] Prompt = { 1, 2 };

    /// <summary>Plain greedy output without any stop, and two EOS ids: the one listed second ends the text first.</summary>
    private static (int[] Free, int[] EosIds, int StopAt) PickEos(TransformerModel model)
    {
        using var g = new Generator(model);
        int[] free = g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, IgnoreEos = true }).Tokens;
        // The token whose first appearance comes latest (but not at the start): stopping there leaves a real prefix.
        int stopAt = -1;
        for (int i = 2; i < free.Length; i++)
            if (Array.IndexOf(free, free[i]) == i) stopAt = i;
        Assert.True(stopAt >= 3, "the random model should produce a few distinct tokens");
        int later = -1; // a token that appears only after stopAt, or never
        for (int t = model.Config.VocabSize - 1; t >= 0 && later < 0; t--)
        {
            int first = Array.IndexOf(free, t);
            if (first < 0 || first > stopAt) later = t;
        }
        return (free, new[] { later, free[stopAt] }, stopAt);
    }

    [Fact]
    public void EveryEosIdOfTheListStopsPlainAndSpeculativeGeneration()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 21);
        using var probe = TransformerModel.Create(config, weights, backend);
        var (free, eos, stopAt) = PickEos(probe);
        int[] expected = free[..stopAt];

        using var target = TransformerModel.Create(config with { EosIds = eos }, weights, backend);
        using (var plain = new Generator(target))
        {
            var (tokens, stats) = plain.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40 });
            Assert.Equal(expected, tokens);
            Assert.Equal(StopReason.StopToken, stats.StopReason);
        }

        // An identical draft is accepted in full, so for most k the EOS lies inside an accepted run: nothing after it may come out.
        using var draft = TransformerModel.Create(config with { EosIds = eos }, weights, backend);
        for (int k = 1; k <= 6; k++)
        {
            using var spec = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "same"));
            var (tokens, stats) = spec.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, DraftLength = DraftLengthPolicy.Fixed(k) });
            Assert.Equal(expected, tokens);
            Assert.Equal(StopReason.StopToken, stats.StopReason);
            Assert.Equal(stopAt, stats.GeneratedTokens);

            using var lookup = new Generator(target, new PromptLookupDrafter(config.VocabSize));
            Assert.Equal(expected, lookup.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, DraftLength = DraftLengthPolicy.Fixed(k) }).Tokens);
        }
    }

    [Fact]
    public void IgnoreEosGeneratesExactlyMaxTokens()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 21);
        using var probe = TransformerModel.Create(config, weights, backend);
        var (free, eos, _) = PickEos(probe);

        using var target = TransformerModel.Create(config with { EosIds = eos }, weights, backend);
        var options = new GenerationOptions { MaxNewTokens = 40, IgnoreEos = true, StopTokens = new[] { free[1] } };
        using var plain = new Generator(target);
        var (tokens, stats) = plain.Generate(Prompt, options);
        Assert.Equal(40, tokens.Length);
        Assert.Equal(free, tokens);
        Assert.Equal(StopReason.MaxTokens, stats.StopReason);

        using var draft = TransformerModel.Create(config, weights, backend);
        using var spec = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "same"));
        Assert.Equal(free, spec.Generate(Prompt, options with { DraftLength = DraftLengthPolicy.Fixed(4) }).Tokens);
    }

    [Fact]
    public void ExtraStopTokensStopToo()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 21);
        using var model = TransformerModel.Create(config, weights, backend);
        var (free, eos, stopAt) = PickEos(model);
        using var g = new Generator(model);
        Assert.Equal(free[..stopAt], g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, StopTokens = eos }).Tokens);
    }

    private sealed class CountingSink(int stopAfter) : ITokenSink
    {
        public List<int> Seen { get; } = new();

        public bool OnToken(int token)
        {
            Seen.Add(token);
            return Seen.Count < stopAfter;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void ASinkEndsTheGenerationAtItsToken(int k)
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 21);
        using var target = TransformerModel.Create(config, weights, backend);
        using var draft = TransformerModel.Create(config, weights, backend);
        using var g = k == 0 ? new Generator(target) : new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "same"));
        int[] free = g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, DraftLength = DraftLengthPolicy.Fixed(Math.Max(k, 1)) }).Tokens;

        var sink = new CountingSink(stopAfter: 7);
        var (tokens, stats) = g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 40, DraftLength = DraftLengthPolicy.Fixed(Math.Max(k, 1)) }, sink);
        Assert.Equal(free[..7], tokens);
        Assert.Equal(free[..7], sink.Seen);
        Assert.Equal(StopReason.StopString, stats.StopReason);
    }

    [Fact]
    public void ALongContextModelGetsACappedCache()
    {
        // A 131k-context model must not allocate its whole KV cache: 4096 by default, or what the caller asks for.
        var config = BatchForwardTests.TinyConfig(vocab: 32) with { MaxPositions = 131072 };
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 3);
        using var target = TransformerModel.Create(config, weights, backend);
        using var draftWeights = new SyntheticWeights(config with { Layers = 1 }, seed: 4);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, draftWeights, backend);

        using (var g = new Generator(target))
        {
            Assert.Equal(Generator.DefaultMaxContext, g.Capacity);
            Assert.Equal(Generator.DefaultMaxContext, g.TargetState.Cache.Capacity);
            Assert.Equal(8, g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 8 }).Tokens.Length);
        }
        using (var g = new Generator(target, contextSize: 300))
        {
            Assert.Equal(300, g.TargetState.Cache.Capacity);
            Assert.Equal(StopReason.ContextFull, g.Generate(Prompt, new GenerationOptions { MaxNewTokens = 400 }).Stats.StopReason);
        }

        using (var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft"))
            Assert.Equal(Generator.DefaultMaxContext, drafter.MaxSequenceLength);
        using (var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft", capacity: 200))
        using (var g = new Generator(target, drafter, contextSize: 300))
        {
            Assert.Equal(200, drafter.MaxSequenceLength);
            Assert.Equal(200, g.Capacity);
            Assert.Equal(200, g.TargetState.Cache.Capacity);
        }

        var tooBig = Assert.Throws<GenerationException>(() => new Generator(target, contextSize: 131073));
        Assert.Contains("131072", tooBig.Message);
    }
}
