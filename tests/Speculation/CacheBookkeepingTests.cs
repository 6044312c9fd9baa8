using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>After speculative rounds (with rejections) the KV caches must hold exactly what a fresh prefill of the
/// accepted text holds.</summary>
public class CacheBookkeepingTests
{
    [Theory]
    [InlineData(0f, 3)]
    [InlineData(1f, 5)]
    public void TargetCacheEqualsFreshPrefillAfterRejections(float temperature, int k)
    {
        using var pair = ModelPair.Tiny();
        TransformerModel target = pair.Target;
        int[] prompt = { 1, 7, 2 };
        var sampling = new SamplingOptions(temperature, Seed: 3);
        using var drafter = new DraftModelDrafter(pair.Draft, sampling, "draft");
        using var generator = new Generator(target, drafter);
        var (tokens, stats) = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = 37, Sampling = sampling, DraftLength = DraftLengthPolicy.Fixed(k) });
        Assert.True(stats.TriedPositions > stats.AcceptedTokens, "the test needs rejected rounds");

        int[] sequence = prompt.Concat(tokens).ToArray();
        InferenceState kept = generator.TargetState;
        int cached = kept.Length;
        Assert.InRange(cached, prompt.Length, sequence.Length);

        using var fresh = target.CreateState();
        target.Forward(fresh, sequence.AsSpan(0, cached));
        int next = cached < sequence.Length ? sequence[cached] : 0;
        float[] expected = target.Forward(fresh, new[] { next }).ToArray();
        float[] actual = target.Forward(kept, new[] { next }).ToArray();
        for (int v = 0; v < expected.Length; v++)
            Assert.True(Math.Abs(expected[v] - actual[v]) <= 1e-4, $"logit {v}: cache after speculation {actual[v]} vs fresh prefill {expected[v]}");
    }

    [Fact]
    public void LongGenerationDoesNotLeakCacheSlots()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 16);
        using var backend = new CpuBackend(1);
        using var w = new SyntheticWeights(config, seed: 2);
        using var target = TransformerModel.Create(config, w, backend);
        using var generator = new Generator(target, new PromptLookupDrafter(config.VocabSize));
        for (int run = 0; run < 3; run++)
        {
            var (tokens, stats) = generator.Generate(new[] { 1 }, new GenerationOptions { MaxNewTokens = 500, DraftLength = DraftLengthPolicy.Fixed(6) });
            // The context (128) bounds the run; the cache never exceeds what was emitted.
            Assert.Equal(StopReason.ContextFull, stats.StopReason);
            Assert.True(generator.TargetState.Length <= 1 + tokens.Length);
        }
    }
}
