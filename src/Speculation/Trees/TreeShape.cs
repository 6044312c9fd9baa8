using System.Globalization;

namespace SpecCore.Speculation.Trees;

/// <summary>
/// A fixed tree topology for drafting: node i hangs under <see cref="Parents"/>[i] (-1: the pending token) as
/// its parent's child of rank <see cref="Ranks"/>[i] (0: the draft's most likely token, or its first draw when
/// sampling). Nodes are in breadth-first order, a parent's children by rank, so any prefix of the nodes is a
/// tree too (that is how a shape is cut to a smaller budget).
/// </summary>
public sealed class TreeShape
{
    private readonly int[] _parents;
    private readonly int[] _ranks;
    private readonly int[] _depths;
    private readonly int[] _childCounts;
    private readonly string? _branching;

    private TreeShape(int[] parents, int[] ranks, string? branching)
    {
        _parents = parents;
        _ranks = ranks;
        _branching = branching;
        _depths = new int[parents.Length];
        _childCounts = new int[parents.Length];
        for (int i = 0; i < parents.Length; i++)
        {
            int p = parents[i];
            if (p >= i || p < -1) throw new ArgumentException("a shape lists parents before children");
            _depths[i] = p < 0 ? 1 : _depths[p] + 1;
            if (p >= 0) _childCounts[p]++;
            MaxDepth = Math.Max(MaxDepth, _depths[i]);
        }
    }

    /// <summary>Number of nodes.</summary>
    public int Count => _parents.Length;

    /// <summary>Deepest level.</summary>
    public int MaxDepth { get; }

    /// <summary>Parent of each node, -1 under the pending token.</summary>
    public ReadOnlySpan<int> Parents => _parents;

    /// <summary>Rank of each node among its siblings (0 = the draft's first choice).</summary>
    public ReadOnlySpan<int> Ranks => _ranks;

    /// <summary>Depth of each node (1 under the pending token).</summary>
    public ReadOnlySpan<int> Depths => _depths;

    /// <summary>Children of each node.</summary>
    public ReadOnlySpan<int> ChildCounts => _childCounts;

    /// <summary>Children of the pending token.</summary>
    public int RootChildren
    {
        get
        {
            int n = 0;
            foreach (int p in _parents) if (p < 0) n++;
            return n;
        }
    }

    /// <summary>The k-ary / SpecInfer-style shape: <paramref name="branching"/>[0] children under the pending token,
    /// <paramref name="branching"/>[1] under each of those, and so on.</summary>
    public static TreeShape FromBranching(IReadOnlyList<int> branching)
    {
        ArgumentNullException.ThrowIfNull(branching);
        if (branching.Count == 0) throw new ArgumentException("a branching list needs at least one level");
        var parents = new List<int>();
        var ranks = new List<int>();
        var level = new List<int> { -1 };
        foreach (int b in branching)
        {
            if (b < 1) throw new ArgumentException($"branching factors must be at least 1, got {b}");
            var next = new List<int>();
            foreach (int parent in level)
            {
                for (int r = 0; r < b; r++)
                {
                    next.Add(parents.Count);
                    parents.Add(parent);
                    ranks.Add(r);
                    if (parents.Count > 4096) throw new ArgumentException("the branching list describes an absurdly large tree");
                }
            }
            level = next;
        }
        return new TreeShape(parents.ToArray(), ranks.ToArray(), string.Join("x", branching));
    }

    /// <summary>A shape from an explicit parent list (parents before children; siblings ranked in list order).</summary>
    public static TreeShape FromParents(IReadOnlyList<int> parents)
    {
        ArgumentNullException.ThrowIfNull(parents);
        var items = new List<(int Parent, int Rank)>();
        var seen = new Dictionary<int, int>();
        for (int i = 0; i < parents.Count; i++)
        {
            int p = parents[i];
            if (p >= i || p < -1) throw new ArgumentException($"parent {p} of node {i} must be -1 or an earlier node");
            seen.TryGetValue(p, out int r);
            seen[p] = r + 1;
            items.Add((p, r));
        }
        return BreadthFirst(items);
    }

    /// <summary>
    /// Sequoia's optimal static tree: of all trees with at most <paramref name="budget"/> nodes and depth at most
    /// <paramref name="maxDepth"/>, the one that maximises the expected number of accepted tokens when the child
    /// of rank r at depth d is the accepted one with probability <see cref="AcceptanceProfile.Rate"/>(d, r)
    /// (dynamic programming over depth, budget and number of children).
    /// </summary>
    public static TreeShape Sequoia(AcceptanceProfile profile, int budget, int maxDepth)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (budget < 1) throw new ArgumentOutOfRangeException(nameof(budget), "a tree needs at least one node");
        if (maxDepth < 1) throw new ArgumentOutOfRangeException(nameof(maxDepth), "a tree needs at least one level");
        int ranks = Math.Min(profile.MaxRank, budget);
        int n = budget;
        // f[d][m]: best expected accepted tokens below a node at depth d - 1 whose subtree (node excluded) has at most m nodes.
        var f = new double[maxDepth + 2][];
        var bestChildren = new int[maxDepth + 2][]; // number of children achieving f[d][m]
        var bestUsed = new int[maxDepth + 2][];     // nodes used by that choice
        var split = new int[maxDepth + 2][,];       // split[d][r, m]: subtree size of child r (1-based) when r children use m nodes
        f[maxDepth + 1] = new double[n + 1];
        for (int d = maxDepth; d >= 1; d--)
        {
            // h[r, m]: best value with children of ranks 0..r-1 using exactly m nodes.
            var h = new double[ranks + 1, n + 1];
            var s = new int[ranks + 1, n + 1];
            for (int m = 1; m <= n; m++) h[0, m] = double.NegativeInfinity;
            for (int r = 1; r <= ranks; r++)
            {
                double rate = profile.Rate(d, r - 1);
                for (int m = 0; m <= n; m++)
                {
                    h[r, m] = double.NegativeInfinity;
                    for (int size = 1; size <= m; size++)
                    {
                        double prev = h[r - 1, m - size];
                        if (double.IsNegativeInfinity(prev)) continue;
                        double v = prev + rate * (1 + f[d + 1][size - 1]);
                        if (v > h[r, m]) { h[r, m] = v; s[r, m] = size; }
                    }
                }
            }
            f[d] = new double[n + 1];
            bestChildren[d] = new int[n + 1];
            bestUsed[d] = new int[n + 1];
            split[d] = s;
            for (int m = 0; m <= n; m++)
            {
                double best = 0;
                int bc = 0, bu = 0;
                for (int r = 1; r <= ranks; r++)
                    for (int used = r; used <= m; used++)
                        if (h[r, used] > best + 1e-12) { best = h[r, used]; bc = r; bu = used; }
                f[d][m] = best;
                bestChildren[d][m] = bc;
                bestUsed[d][m] = bu;
            }
        }

        var items = new List<(int Parent, int Rank)>();
        void Build(int parent, int depth, int budgetLeft)
        {
            if (depth > maxDepth) return;
            int children = bestChildren[depth][budgetLeft];
            int used = bestUsed[depth][budgetLeft];
            var sizes = new int[children];
            for (int r = children; r >= 1; r--)
            {
                sizes[r - 1] = split[depth][r, used];
                used -= sizes[r - 1];
            }
            for (int r = 0; r < children; r++)
            {
                int id = items.Count;
                items.Add((parent, r));
                Build(id, depth + 1, sizes[r] - 1);
            }
        }
        Build(-1, 1, n);
        return BreadthFirst(items);
    }

    /// <summary>Expected accepted tokens per round under <paramref name="profile"/>: the sum over nodes of the product
    /// of acceptance rates along the path to them.</summary>
    public double ExpectedAcceptedLength(AcceptanceProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var reach = new double[Count];
        double total = 0;
        for (int i = 0; i < Count; i++)
        {
            double above = _parents[i] < 0 ? 1 : reach[_parents[i]];
            reach[i] = above * profile.Rate(_depths[i], _ranks[i]);
            total += reach[i];
        }
        return total;
    }

    /// <summary>The first <paramref name="nodes"/> nodes (breadth-first), a tree of that budget.</summary>
    public TreeShape Truncate(int nodes)
    {
        if (nodes >= Count) return this;
        if (nodes < 0) throw new ArgumentOutOfRangeException(nameof(nodes));
        return new TreeShape(_parents.AsSpan(0, nodes).ToArray(), _ranks.AsSpan(0, nodes).ToArray(), null);
    }

    /// <summary>The branching list for k-ary shapes ("4x2x2x1"), else the node count per depth ("16 nodes: 4/5/3/2/1/1").</summary>
    public string Describe()
    {
        if (_branching != null) return _branching;
        var perDepth = new int[MaxDepth];
        foreach (int d in _depths) perDepth[d - 1]++;
        return string.Create(CultureInfo.InvariantCulture, $"{Count} nodes: {string.Join("/", perDepth)} per depth");
    }

    /// <summary>Puts nodes in breadth-first order (by depth, then parent position, then rank).</summary>
    private static TreeShape BreadthFirst(List<(int Parent, int Rank)> items)
    {
        var children = new List<int>[items.Count + 1]; // index parent + 1
        for (int i = 0; i < children.Length; i++) children[i] = new List<int>();
        for (int i = 0; i < items.Count; i++) children[items[i].Parent + 1].Add(i);
        var order = new List<int>();
        var newIndex = new int[items.Count];
        var queue = new Queue<int>();
        queue.Enqueue(-1);
        while (queue.Count > 0)
        {
            int node = queue.Dequeue();
            foreach (int c in children[node + 1].OrderBy(c => items[c].Rank))
            {
                newIndex[c] = order.Count;
                order.Add(c);
                queue.Enqueue(c);
            }
        }
        var parents = new int[order.Count];
        var ranks = new int[order.Count];
        for (int i = 0; i < order.Count; i++)
        {
            int old = order[i];
            parents[i] = items[old].Parent < 0 ? -1 : newIndex[items[old].Parent];
            ranks[i] = items[old].Rank;
        }
        return new TreeShape(parents, ranks, null);
    }
}
