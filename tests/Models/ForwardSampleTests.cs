using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Tests.Kernels;

namespace SpecCore.Tests.Models;

/// <summary>ForwardSample (sampling on the backend) against Forward plus host sampling, shared by the CPU and
/// ILGPU backends.</summary>
internal static class ForwardSampleCheck
{
    public static readonly SamplingOptions[] Options =
    {
        SamplingOptions.Greedy,
        new(1f),
        new(0.8f, TopK: 6),
        new(1.2f, TopP: 0.8f),
        new(0.9f, TopK: 12, TopP: 0.9f),
    };

    /// <summary>After a prefix, a token tree sampled on every row and a chain sampled on its last row: each
    /// token equals the host sampler's choice on the logits Forward returns for the same rows, with the same
    /// uniforms (a mismatch only at a CDF or cut boundary, and at most one per call). Returns the mismatches.</summary>
    public static int Run(TransformerModel model, int seed)
    {
        int vocab = model.Config.VocabSize;
        var rng = new Random(seed);
        int[] prefix = Enumerable.Range(0, 9).Select(_ => rng.Next(vocab)).ToArray();
        int[] tree = Enumerable.Range(0, 7).Select(_ => rng.Next(vocab)).ToArray();
        int[] parents = { -1, 0, 0, 1, 1, 2, 5 };
        using var state = model.CreateState(64, maxBatch: 16);
        model.Forward(state, prefix);
        int mismatches = 0;
        foreach (SamplingOptions options in Options)
        {
            var sampler = new Sampler(vocab, options);
            var uniforms = new float[tree.Length];
            for (int i = 0; i < uniforms.Length; i++) uniforms[i] = rng.NextSingle();

            // Every row of a tree.
            state.Cache.Truncate(prefix.Length);
            float[] logits = model.Forward(state, tree, parents, LogitsRows.All).ToArray();
            state.Cache.Truncate(prefix.Length);
            var result = new int[tree.Length];
            model.ForwardSample(state, tree, parents, options, uniforms, result);
            Assert.Equal(prefix.Length + tree.Length, state.Length);
            for (int r = 0; r < tree.Length; r++)
                mismatches += Check(sampler, logits.AsSpan(r * vocab, vocab), uniforms[r], result[r], options);

            // The next token after a chain (the LM head runs for the last row only).
            state.Cache.Truncate(prefix.Length);
            float[] last = model.Forward(state, tree, default, LogitsRows.Last).ToArray();
            state.Cache.Truncate(prefix.Length);
            var one = new int[1];
            model.ForwardSample(state, tree, default, options, uniforms.AsSpan(3, 1), one);
            mismatches += Check(sampler, last, uniforms[3], one[0], options);
        }
        return mismatches;
    }

    private static int Check(Sampler sampler, ReadOnlySpan<float> logits, float uniform, int actual, SamplingOptions options)
    {
        int expected = sampler.Sample(logits, uniform);
        if (expected == actual) return 0;
        Assert.True(SamplingTestUtil.NearBoundary(sampler, logits, uniform), $"{options}: uniform {uniform}: host {expected}, backend {actual}");
        return 1;
    }
}

public class ForwardSampleTests
{
    /// <summary>On the CPU backend sampling runs the host sampler on the same logits: exact.</summary>
    [Fact]
    public void CpuForwardSampleEqualsForwardPlusSampler()
    {
        var config = BatchForwardTests.TinyConfig();
        using var weights = new SyntheticWeights(config, seed: 3);
        using var backend = new SpecCore.Kernels.Cpu.CpuBackend(2);
        using var model = TransformerModel.Create(config, weights, backend);
        Assert.Equal(0, ForwardSampleCheck.Run(model, 5));
    }

    /// <summary>Bad shapes are refused before any work.</summary>
    [Fact]
    public void ForwardSampleRejectsBadShapes()
    {
        var config = BatchForwardTests.TinyConfig();
        using var weights = new SyntheticWeights(config, seed: 3);
        using var backend = new SpecCore.Kernels.Cpu.CpuBackend(1);
        using var model = TransformerModel.Create(config, weights, backend);
        using var state = model.CreateState(16);
        Assert.Throws<ArgumentException>(() => model.ForwardSample(state, new[] { 1, 2 }, default, SamplingOptions.Greedy, default, new int[3]));
        Assert.Throws<ArgumentException>(() => model.ForwardSample(state, new[] { 1 }, default, new SamplingOptions(1f), default, new int[1]));
        Assert.Equal(0, state.Length);
    }
}
