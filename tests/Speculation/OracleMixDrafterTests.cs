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
}
