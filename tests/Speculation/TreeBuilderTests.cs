using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Trees;

namespace SpecCore.Tests.Speculation;

/// <summary>The shared tree builder against hand-worked trees, with expanders that are not draft models.</summary>
public class TreeBuilderTests
{
    private const int Vocab = 5;

    /// <summary>Scores that depend on the parent's token only: row t = log(Next[t]). Rows are returned in reverse
    /// frontier order, so a builder that ignored the row map would read the wrong ones.</summary>
    private sealed class ByParentToken(float[][] next, TreeScores kind) : ITreeExpander
    {
        private readonly float[] _rows = new float[64 * Vocab];
        public readonly List<int[]> Frontiers = new();

        public ReadOnlySpan<float> Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
        {
            Frontiers.Add(frontier.ToArray());
            for (int i = 0; i < frontier.Length; i++)
            {
                int row = frontier.Length - 1 - i;
                rows[i] = row;
                Fill(next[tree.Tokens[frontier[i]]], kind, _rows.AsSpan(row * Vocab, Vocab));
            }
            return _rows.AsSpan(0, frontier.Length * Vocab);
        }
    }

    /// <summary>Medusa-like: one row per depth, shared by every frontier node; node <see cref="Unscored"/> is left out.</summary>
    private sealed class PerDepth(float[][] byDepth) : ITreeExpander
    {
        private readonly float[] _row = new float[Vocab];
        public int Calls;
        public int Unscored = -1;

        public ReadOnlySpan<float> Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
        {
            Calls++;
            Fill(byDepth[tree.Depths[frontier[0]]], TreeScores.Logits, _row);
            for (int i = 0; i < frontier.Length; i++) rows[i] = frontier[i] == Unscored ? -1 : 0;
            return _row;
        }
    }

    private static void Fill(float[] probabilities, TreeScores kind, Span<float> row)
    {
        for (int v = 0; v < Vocab; v++) row[v] = kind == TreeScores.Logits ? MathF.Log(probabilities[v]) : probabilities[v] * 3f;
    }

    private static readonly float[] Root = { 0.5f, 0.3f, 0.1f, 0.05f, 0.05f };
    private static readonly float[][] Next =
    {
        new[] { 0.1f, 0.1f, 0.2f, 0.4f, 0.2f },   // after token 0: 3, then 2 (tie with 4: lower id)
        new[] { 0.05f, 0.05f, 0.1f, 0.1f, 0.7f }, // after token 1: 4, then 2
        new[] { 0.2f, 0.2f, 0.2f, 0.2f, 0.2f },
        new[] { 0.2f, 0.2f, 0.2f, 0.2f, 0.2f },
        new[] { 0.2f, 0.2f, 0.2f, 0.2f, 0.2f },
    };

    private static float[] Scores(float[] probabilities, TreeScores kind)
    {
        var row = new float[Vocab];
        Fill(probabilities, kind, row);
        return row;
    }

    [Theory]
    [InlineData(TreeScores.Logits)]
    [InlineData(TreeScores.Probabilities)]
    public void DynamicGreedyKeepsTheBestNodesOfThePool(TreeScores kind)
    {
        // Pool: 0 (.5), 1 (.3), 0→3 (.2), 0→2 (.1), 1→4 (.21), 1→2 (.03). The best 3 by path probability are 0, 1 and
        // 1→4: re-ranking over the whole pool drops 0→3 although it is its parent's best child.
        var builder = new TreeBuilder(Vocab, new Sampler(Vocab, SamplingOptions.Greedy), kind);
        var expander = new ByParentToken(Next, kind);
        var tree = new DraftTree(16, Vocab);
        builder.Build(TreeSpec.Dynamic(3, maxDepth: 2, topK: 2), 16, 16, Scores(Root, kind), expander, tree);

        Assert.Equal(new[] { 0, 1, 4 }, tree.Tokens.ToArray());
        Assert.Equal(new[] { -1, -1, 1 }, tree.Parents.ToArray());
        Assert.Equal(0.21f, tree.PathProbabilities[2], 5);
        Assert.Equal(6, builder.Count);
        Assert.Equal(new[] { 0, 1, -1, -1, 2, -1 }, builder.TreeIndices.ToArray());
        Assert.Single(expander.Frontiers);
        Assert.Equal(new[] { 0, 1 }, expander.Frontiers[0]);
    }

    [Fact]
    public void DynamicGreedySkipsNodesThatCannotBeKept()
    {
        // Budget 2: the root's children 0 (.5) and 1 (.3) fill it. Their children (.2, .1, .21, .03) are all below the
        // second-best path probability .3, so neither they nor anything under them can be kept: no depth-2 frontier.
        var builder = new TreeBuilder(Vocab, new Sampler(Vocab, SamplingOptions.Greedy));
        var expander = new ByParentToken(Next, TreeScores.Logits);
        var tree = new DraftTree(16, Vocab);
        builder.Build(TreeSpec.Dynamic(2, maxDepth: 5, topK: 2), 16, 16, Scores(Root, TreeScores.Logits), expander, tree);

        Assert.Equal(new[] { 0, 1 }, tree.Tokens.ToArray());
        Assert.Single(expander.Frontiers);
    }

    [Fact]
    public void StaticShapeWithPositionIndependentScoresCallsOncePerDepth()
    {
        var byDepth = new[] { Root, new[] { 0.1f, 0.6f, 0.1f, 0.1f, 0.1f }, new[] { 0.1f, 0.1f, 0.1f, 0.5f, 0.2f } };
        var builder = new TreeBuilder(Vocab, new Sampler(Vocab, SamplingOptions.Greedy));
        var expander = new PerDepth(byDepth) { Unscored = 1 };
        var tree = new DraftTree(32, Vocab);
        builder.Build(TreeSpec.Parse("static:2x2x1"), 32, 32, Scores(Root, TreeScores.Logits), expander, tree);

        // Depth 1: tokens 0, 1. Depth 2 under node 0 only (node 1 was not scored, so it stays a leaf): 1, then 0
        // (tie of 0.1 between 0, 2, 3, 4: the lowest id). Depth 3: one child each, the shared row's best token 3.
        Assert.Equal(2, expander.Calls);
        Assert.Equal(new[] { 0, 1, 1, 0, 3, 3 }, tree.Tokens.ToArray());
        Assert.Equal(new[] { -1, -1, 0, 0, 2, 3 }, tree.Parents.ToArray());
    }

    [Fact]
    public void SampledTreesDrawDistinctChildrenAndStoreQ()
    {
        var options = new SamplingOptions(Temperature: 1f, Seed: 9);
        var builder = new TreeBuilder(Vocab, new Sampler(Vocab, options));
        var tree = new DraftTree(16, Vocab, TreeSpec.MaxNodes + 1);
        builder.Build(TreeSpec.Dynamic(8, maxDepth: 3, topK: 3), 16, 16, Scores(Root, TreeScores.Logits), new ByParentToken(Next, TreeScores.Logits), tree);

        Assert.Equal(8, tree.Count); // sampled trees stop at the budget
        for (int i = 0; i < tree.Count; i++)
        {
            int d = tree.DistributionOf[i];
            Assert.True(d >= 0, "every sampled node names its q");
            float[] expected = tree.Parents[i] < 0 ? Root : Next[tree.Tokens[tree.Parents[i]]];
            for (int v = 0; v < Vocab; v++) Assert.Equal(expected[v], tree.Distribution(d)[v], 5);
            for (int j = 0; j < i; j++)
                if (tree.Parents[j] == tree.Parents[i]) Assert.NotEqual(tree.Tokens[j], tree.Tokens[i]);
        }
    }

    [Fact]
    public void SequoiaWithoutProfileIsRefused()
    {
        var builder = new TreeBuilder(Vocab, new Sampler(Vocab, SamplingOptions.Greedy));
        var e = Assert.Throws<InvalidOperationException>(() => builder.Build(TreeSpec.Parse("sequoia:8"), 8, 8, Scores(Root, TreeScores.Logits), new PerDepth(new[] { Root }), new DraftTree(8, Vocab)));
        Assert.Contains("profile", e.Message);
    }
}
