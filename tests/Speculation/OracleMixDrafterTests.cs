using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;

namespace SpecCore.Tests.Speculation;

/// <summary>The α oracle of the synthetic benchmark: a chain's tokens hit with probability α, and at most one child
/// of a parent carries the target's token.</summary>
public class OracleMixDrafterTests
{
    /// <summary>Proposes three children of the pending token, each with a second-level child, all token 0.</summary>
    private sealed class FixedTree(bool chain) : IDrafter
    {
        public string Name => "fixed";
        public int VocabSize => 8;
        public int? MaxSequenceLength => null;
        public void Reset() { }
        public void Dispose() { }

        public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
        {
            if (chain)
            {
                tree.Add(0, tree.Add(0, -1, 1f), 1f);
                return;
            }
            for (int i = 0; i < 3; i++) tree.Add(0, -1, 1f);
            for (int i = 0; i < 3; i++) tree.Add(0, i, 1f);
        }
    }

    [Fact]
    public void ChainsHitWithAlphaAndSiblingsNeverShareTheTarget()
    {
        int[] reference = { 1, 2, 3, 5, 6 }; // prompt {1, 2}; the target continues 3, 5, 6
        const double alpha = 0.7;
        const int rounds = 4000;
        var tree = new DraftTree(8, 8);

        using var chain = new OracleMixDrafter(new FixedTree(chain: true), reference, alpha, seed: 3);
        int hits = 0;
        for (int r = 0; r < rounds; r++)
        {
            tree.Clear();
            chain.Propose(new[] { 1, 2 }, new DraftRequest(2, 2), tree);
            hits += (tree.Tokens[0] == 3 ? 1 : 0) + (tree.Tokens[1] == 5 ? 1 : 0);
        }
        Assert.InRange(hits / (2.0 * rounds), alpha - 0.03, alpha + 0.03);

        using var wide = new OracleMixDrafter(new FixedTree(chain: false), reference, alpha, seed: 4);
        var byRank = new int[3];
        for (int r = 0; r < rounds; r++)
        {
            tree.Clear();
            wide.Propose(new[] { 1, 2 }, new DraftRequest(2, 6), tree);
            int atDepth1 = 0;
            for (int i = 0; i < 3; i++)
                if (tree.Tokens[i] == 3) { atDepth1++; byRank[i]++; }
            Assert.True(atDepth1 <= 1, "two siblings carry the target's token");
        }
        Assert.InRange(byRank[0] / (double)rounds, alpha - 0.03, alpha + 0.03);
        // Rank 1 is the hit in 57.5 % of the rounds where rank 0 missed.
        Assert.InRange(byRank[1] / (double)rounds, (1 - alpha) * 0.575 - 0.03, (1 - alpha) * 0.575 + 0.03);
    }

    [Fact]
    public void DraftModelTreesGrowFromCalibratedScores()
    {
        // A random tiny pair: the draft model's own scores are meaningless, the oracle's say where the target's token is.
        using var pair = ModelPair.Tiny(vocab: 16);
        int[] reference = { 1, 2, 7, 9, 4, 11 }; // prompt {1, 2}; the "target" continues 7, 9, 4, 11
        const double alpha = 0.8;
        const int rounds = 1500;
        var tree = new DraftTree(16, 16);
        using var oracle = new OracleMixDrafter(new DraftModelDrafter(pair.Draft, SamplingOptions.Greedy, "tiny"), reference, alpha, seed: 5);
        var request = new DraftRequest(3, 9, TreeSpec.Parse("static:3x1x1"));
        int topIsTruth = 0, truthAtDepth1 = 0;
        double topProbability = 0;
        for (int r = 0; r < rounds; r++)
        {
            tree.Clear();
            oracle.Propose(new[] { 1, 2 }, request, tree);
            int best = -1, truths = 0;
            for (int i = 0; i < tree.Count; i++)
            {
                if (tree.Depths[i] != 1) continue;
                if (best < 0 || tree.Probabilities[i] > tree.Probabilities[best]) best = i;
                if (tree.Tokens[i] == 7) truths++;
            }
            Assert.True(truths <= 1, "two siblings carry the target's token");
            truthAtDepth1 += truths;
            topIsTruth += tree.Tokens[best] == 7 ? 1 : 0;
            topProbability += tree.Probabilities[best];
        }
        // The most confident child is the target's token α of the time, and the confidence it reports averages about α
        // (it is at least c, the rank-0 probability, which averages α).
        Assert.InRange(topIsTruth / (double)rounds, alpha - 0.04, alpha + 0.04);
        Assert.InRange(topProbability / rounds, alpha - 0.04, alpha + 0.08);
        // Three children catch the target's token unless it is below rank 2: α + (1 - α)(0.575 + 0.181).
        double expected = alpha + (1 - alpha) * (0.575 + 0.181);
        Assert.InRange(truthAtDepth1 / (double)rounds, expected - 0.04, expected + 0.04);
    }
}
