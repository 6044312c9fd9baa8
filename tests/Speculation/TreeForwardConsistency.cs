using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>
/// Tree attention checked against chains, written once for any backend: for every node of a random token tree, the
/// logits of the tree forward equal those of a chain forward of the node's path (≤ 1e-4); and after compacting
/// the cache to one path it equals a fresh prefill of that path. Another backend's tests call
/// <see cref="CheckTreePathsMatchChains"/> and <see cref="CheckCompactionMatchesPrefill"/> with their own backend.
/// </summary>
public static class TreeForwardConsistency
{
    /// <summary>Random tree of <paramref name="nodes"/> nodes in topological order: parent of node i in [-1, i).</summary>
    public static (int[] Tokens, int[] Parents) RandomTree(int nodes, int vocab, int seed)
    {
        var rng = new Random(seed);
        var tokens = new int[nodes];
        var parents = new int[nodes];
        for (int i = 0; i < nodes; i++)
        {
            tokens[i] = rng.Next(vocab);
            // Favour deep trees: half the time the previous node, otherwise any earlier node or the prefix.
            parents[i] = i == 0 ? -1 : rng.Next(2) == 0 ? i - 1 : rng.Next(-1, i);
        }
        return (tokens, parents);
    }

    /// <summary>Root-first batch indices of the path to <paramref name="node"/>.</summary>
    public static int[] PathTo(int[] parents, int node)
    {
        var path = new List<int>();
        for (int j = node; j >= 0; j = parents[j]) path.Add(j);
        path.Reverse();
        return path.ToArray();
    }

    private static TransformerModel TinyModel(IBackend backend, out IDisposable weights)
    {
        var config = BatchForwardTests.TinyConfig(kvHeads: 2, vocab: 64);
        var w = new SyntheticWeights(config, seed: 17);
        weights = w;
        return TransformerModel.Create(config, w, backend);
    }

    /// <summary>Asserts that every node's tree-forward logits equal a chain forward of its path, on <paramref name="backend"/>.</summary>
    public static void CheckTreePathsMatchChains(IBackend backend, int nodes = 24, int seed = 5, double tolerance = 1e-4)
    {
        using var model = TinyModel(backend, out var weights);
        using var _ = weights;
        int vocab = model.Config.VocabSize;
        int[] prefix = { 1, 9, 33, 4, 60, 2, 17 };
        var (tokens, parents) = RandomTree(nodes, vocab, seed);

        using var tree = model.CreateState();
        model.Forward(tree, prefix);
        float[] treeLogits = model.Forward(tree, tokens, parents, LogitsRows.All).ToArray();

        using var chain = model.CreateState();
        for (int node = 0; node < nodes; node++)
        {
            int[] path = PathTo(parents, node);
            chain.Cache.Truncate(0);
            model.Forward(chain, prefix);
            ReadOnlySpan<float> chainLogits = model.Forward(chain, path.Select(i => tokens[i]).ToArray(), default, LogitsRows.Last);
            for (int v = 0; v < vocab; v++)
            {
                double diff = Math.Abs(chainLogits[v] - treeLogits[node * vocab + v]);
                Assert.True(diff <= tolerance, $"{backend.Name}: node {node} (depth {path.Length}), logit {v}: tree {treeLogits[node * vocab + v]} vs chain {chainLogits[v]}");
            }
        }
    }

    /// <summary>Asserts that compacting the cache to each of several tree paths leaves exactly a fresh prefill of
    /// prefix + path, on <paramref name="backend"/>.</summary>
    public static void CheckCompactionMatchesPrefill(IBackend backend, int nodes = 20, int seed = 9, double tolerance = 1e-4)
    {
        using var model = TinyModel(backend, out var weights);
        using var _ = weights;
        int vocab = model.Config.VocabSize;
        int[] prefix = { 1, 3, 5, 7, 11 };
        var (tokens, parents) = RandomTree(nodes, vocab, seed);
        int next = 42;
        foreach (int leaf in new[] { nodes - 1, nodes / 2, 0 })
        {
            int[] path = PathTo(parents, leaf);
            using var kept = model.CreateState();
            model.Forward(kept, prefix);
            model.Forward(kept, tokens, parents, LogitsRows.All);
            kept.Cache.Compact(prefix.Length, path);
            Assert.Equal(prefix.Length + path.Length, kept.Length);
            float[] actual = model.Forward(kept, new[] { next }).ToArray();

            using var fresh = model.CreateState();
            model.Forward(fresh, prefix.Concat(path.Select(i => tokens[i])).ToArray());
            float[] expected = model.Forward(fresh, new[] { next }).ToArray();
            for (int v = 0; v < vocab; v++)
                Assert.True(Math.Abs(expected[v] - actual[v]) <= tolerance, $"{backend.Name}: path to {leaf}, logit {v}: compacted {actual[v]} vs fresh {expected[v]}");
        }
    }

    /// <summary>Asserts that feeding a random tree level by level with <see cref="TransformerModel.ForwardTree"/> (each
    /// level's parents are rows earlier levels left in the cache, nothing is run twice) gives every node the logits of
    /// one forward of the whole tree, and that compacting the level-ordered rows to a path equals a fresh prefill.</summary>
    public static void CheckLevelByLevelMatchesOneBatch(IBackend backend, int nodes = 24, int seed = 7, double tolerance = 1e-4)
    {
        using var model = TinyModel(backend, out var weights);
        using var _ = weights;
        int vocab = model.Config.VocabSize;
        int[] prefix = { 2, 8, 31, 5 };
        var (tokens, parents) = RandomTree(nodes, vocab, seed);

        using var whole = model.CreateState();
        model.Forward(whole, prefix);
        float[] expected = model.Forward(whole, tokens, parents, LogitsRows.All).ToArray();

        var depth = new int[nodes];
        for (int i = 0; i < nodes; i++) depth[i] = parents[i] < 0 ? 1 : depth[parents[i]] + 1;
        using var levels = model.CreateState();
        model.Forward(levels, prefix);
        var row = new int[nodes];          // region row of each node, in feed order
        var regionParents = new List<int>();
        var fed = new List<int>();
        for (int d = 1; d <= depth.Max(); d++)
        {
            int[] level = Enumerable.Range(0, nodes).Where(i => depth[i] == d).ToArray();
            foreach (int i in level)
            {
                row[i] = regionParents.Count;
                regionParents.Add(parents[i] < 0 ? -1 : row[parents[i]]);
                fed.Add(i);
            }
            float[] logits = model.ForwardTree(levels, level.Select(i => tokens[i]).ToArray(), prefix.Length, regionParents.ToArray()).ToArray();
            Assert.Equal(prefix.Length + regionParents.Count, levels.Length);
            for (int j = 0; j < level.Length; j++)
                for (int v = 0; v < vocab; v++)
                {
                    double diff = Math.Abs(logits[j * vocab + v] - expected[level[j] * vocab + v]);
                    Assert.True(diff <= tolerance, $"{backend.Name}: node {level[j]} (depth {d}), logit {v}: by level {logits[j * vocab + v]} vs one batch {expected[level[j] * vocab + v]}");
                }
        }

        int leaf = Enumerable.Range(0, nodes).OrderByDescending(i => depth[i]).First();
        int[] path = PathTo(parents, leaf);
        levels.Cache.Compact(prefix.Length, path.Select(i => row[i]).OrderBy(r => r).ToArray());
        float[] actual = model.Forward(levels, new[] { 42 }).ToArray();
        using var fresh = model.CreateState();
        model.Forward(fresh, prefix.Concat(path.Select(i => tokens[i])).ToArray());
        float[] prefill = model.Forward(fresh, new[] { 42 }).ToArray();
        for (int v = 0; v < vocab; v++)
            Assert.True(Math.Abs(prefill[v] - actual[v]) <= tolerance, $"{backend.Name}: path to {leaf}, logit {v}: compacted {actual[v]} vs fresh {prefill[v]}");
    }
}

/// <summary>The consistency checks on the CPU backend.</summary>
public class CpuTreeForwardTests
{
    [Theory]
    [InlineData(1, 24, 5)]
    [InlineData(2, 40, 6)]
    public void TreePathsMatchChains(int threads, int nodes, int seed)
    {
        using var backend = new CpuBackend(threads);
        TreeForwardConsistency.CheckTreePathsMatchChains(backend, nodes, seed);
    }

    [Fact]
    public void CompactionMatchesPrefill()
    {
        using var backend = new CpuBackend(2);
        TreeForwardConsistency.CheckCompactionMatchesPrefill(backend);
    }

    [Theory]
    [InlineData(1, 24, 7)]
    [InlineData(2, 40, 8)]
    public void LevelByLevelMatchesOneBatch(int threads, int nodes, int seed)
    {
        using var backend = new CpuBackend(threads);
        TreeForwardConsistency.CheckLevelByLevelMatchesOneBatch(backend, nodes, seed);
    }
}
