using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>An engine session reuses its drafter across requests with other sampling options: the drafter must then grow
/// its trees and chains with the new options, not the ones it was made with.</summary>
public sealed class DrafterSamplingSwitchTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("dynamic:8")]
    [InlineData("static:2x2x1")]
    public void AGreedyDrafterSwitchedToSamplingDraftsSampledDistributions(string? treeText)
    {
        var config = BatchForwardTests.TinyConfig(vocab: 64);
        using var backend = new CpuBackend(1);
        using var dw = new SyntheticWeights(config with { Layers = 1 }, seed: 5);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, dw, backend);
        using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft");
        TreeSpec? spec = treeText != null ? TreeSpec.Parse(treeText) : null;
        int[] sequence = [1, 7, 9, 4];

        var tree = new DraftTree(16, config.VocabSize, 16);
        drafter.Propose(sequence, new DraftRequest(3, 8, spec), tree);
        Assert.Equal(0, tree.DistributionCount); // greedy: deterministic proposals

        drafter.UseSampling(new SamplingOptions(0.8f, Seed: 3));
        tree.Clear();
        drafter.Propose(sequence, new DraftRequest(3, 8, spec), tree);
        Assert.True(tree.DistributionCount > 0, "after UseSampling(temperature 0.8) the drafter still drafts greedily");

        drafter.UseSampling(SamplingOptions.Greedy);
        tree.Clear();
        drafter.Propose(sequence, new DraftRequest(3, 8, spec), tree);
        Assert.Equal(0, tree.DistributionCount);
    }
}
