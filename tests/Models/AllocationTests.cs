using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;

namespace SpecCore.Tests.Models;

/// <summary>The per-token path allocates nothing: buffers are made once per sequence.</summary>
public class AllocationTests
{
    [Fact]
    public void DecodeStepAllocatesNothing()
    {
        var config = BatchForwardTests.TinyConfig();
        using var weights = new SyntheticWeights(config, seed: 1);
        using var backend = new CpuBackend(1); // one thread: all work runs on this thread and is counted
        using var model = TransformerModel.Create(config, weights, backend);
        using var state = model.CreateState();
        int[] token = { 3 };
        int[] parents = { -1, 0, 0, 1 };
        int[] tree = { 4, 5, 6, 7 };
        var sampling = new SamplingOptions(0.9f, TopK: 10, TopP: 0.9f);
        float[] uniform = { 0.3f };
        int[] next = new int[1];
        for (int i = 0; i < 4; i++) model.Forward(state, token); // warm-up (JIT, thread-static scratch)
        model.ForwardSample(state, token, default, SamplingOptions.Greedy, default, next);
        model.ForwardSample(state, token, default, sampling, uniform, next); // the backend's sampler scratch
        model.Forward(state, tree, parents);
        state.Cache.Truncate(4);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            ReadOnlySpan<float> logits = model.Forward(state, token, default, LogitsRows.Last);
            token[0] = Sampler.ArgMax(logits);
            model.ForwardSample(state, token, default, SamplingOptions.Greedy, default, next);
            model.ForwardSample(state, next, default, sampling, uniform, token);
        }
        model.Forward(state, tree, parents);
        state.Cache.Compact(34, new[] { 0, 2 });
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void SpeculativeRoundsAllocateNothingPerToken()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 32);
        using var weights = new SyntheticWeights(config, seed: 1);
        using var backend = new CpuBackend(1);
        using var target = TransformerModel.Create(config, weights, backend);
        using var draftWeights = new SyntheticWeights(config with { Layers = 1 }, seed: 1);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, draftWeights, backend);
        using var generator = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft"));
        int[] prompt = { 1, 2, 3 };
        long Allocated(int tokens)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            generator.Generate(prompt, new GenerationOptions { MaxNewTokens = tokens, DraftLength = DraftLengthPolicy.Fixed(3) });
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        // Warm-up long enough for the tiered JIT to have promoted the round's methods (a promotion in the
        // middle of a measured run can allocate on this thread).
        for (int i = 0; i < 3; i++) Allocated(110);
        long small = Allocated(10), large = Allocated(110);
        // Only the output arrays grow with the token count (4 bytes per token in the list and in the result).
        Assert.True(large - small <= 100 * 8 + 512, $"100 more tokens allocated {large - small} more bytes");
    }
}
