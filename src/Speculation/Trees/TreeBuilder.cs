using System.Numerics.Tensors;
using SpecCore.Kernels.Sampling;

namespace SpecCore.Speculation.Trees;

/// <summary>
/// Grows one round's <see cref="DraftTree"/> from next-token scores that a drafter supplies through an
/// <see cref="ITreeExpander"/>: static shapes (<c>static:</c>, and <c>sequoia:</c> once its shape is chosen) and
/// EAGLE-2's dynamic growth (<c>dynamic:</c>). The drafter scores frontier nodes; the builder chooses the children,
/// keeps the pool of candidates, re-ranks and writes the tree.
/// </summary>
/// <remarks>
/// <para>Children of an expanded node: with greedy options its top-ranked tokens (highest score first, ties to the
/// lower id); with sampling, distinct draws without replacement from q (the drafter's distribution under the
/// sampling options, so that p and q are filtered alike), and q is stored in the tree for the lossless verifier.</para>
/// <para>Static shapes expand, depth by depth, every realised node of the shape that has children, in one
/// <see cref="ITreeExpander.Expand"/> call per depth. Dynamic trees (EAGLE-2): each depth, the top-k nodes of the newest
/// depth by path probability (cumulative log-probability) get k children each; greedy trees then keep the best
/// <c>nodes</c> of the whole pool by path probability (a parent never ranks below its child, so the kept set is a
/// tree); sampled trees stop growing at the budget instead, since dropping a drawn node for its own probability would
/// bias the verifier.</para>
/// <para>Node indices handed to the expander are pool indices of this round (parents before children); they are not
/// tree indices: <see cref="TreeIndices"/> maps them once the tree is written. One builder serves one sequence (it
/// holds per-round buffers and draws from the drafter's sampler); it allocates nothing per round after the first
/// sampled round.</para>
/// </remarks>
public sealed class TreeBuilder
{
    /// <summary>Most candidate nodes one round may grow (the pool is a superset of the tree for re-ranking).</summary>
    public const int PoolCapacity = 512;

    private Sampler _sampler;
    private readonly int _vocab;
    private readonly TreeScores _scores;
    private readonly float[] _q;          // [vocab] the draft distribution at the current node
    private readonly float[] _w;          // [vocab] scratch: what is left of q while drawing without replacement
    private readonly float[] _logits;     // [vocab] log of probability scores (Probabilities mode)

    private readonly int[] _token = new int[PoolCapacity];
    private readonly int[] _parent = new int[PoolCapacity];       // pool index, -1: under the pending token
    private readonly int[] _depth = new int[PoolCapacity];
    private readonly float[] _probability = new float[PoolCapacity];
    private readonly float[] _pathProbability = new float[PoolCapacity];
    private readonly int[] _slot = new int[PoolCapacity];         // q slot the token was drawn from (sampling), else -1
    private int _count;

    private float[] _poolQ = Array.Empty<float>(); // [expanded nodes, vocab] q of each expanded node (sampling)
    private int _qSlots;
    private readonly int[] _top = new int[TreeSpec.MaxNodes + 1];
    private readonly int[] _frontier = new int[PoolCapacity];
    private readonly int[] _rows = new int[PoolCapacity];
    private readonly int[] _rowOf = new int[PoolCapacity];       // scored row of a pool node in the last Expand, else -1
    private readonly List<int> _added = new();
    private readonly List<int> _chosen = new();
    private readonly List<int> _order = new();
    private readonly int[] _treeIndex = new int[PoolCapacity];
    private readonly int[] _slotToTreeDistribution = new int[TreeSpec.MaxNodes + 2];
    private readonly Comparison<int> _byPathProbability;
    private readonly float[] _best = new float[TreeSpec.MaxNodes]; // min-heap of the highest path probabilities in the pool
    private int _bestCount;
    private int _bestLimit;                                          // heap size: the node budget of the round

    /// <summary>Creates a builder over a vocabulary of <paramref name="vocabSize"/> tokens that samples (when
    /// <paramref name="sampler"/>'s options are not greedy) from <paramref name="sampler"/>'s random stream, reading
    /// expander rows as <paramref name="scores"/>.</summary>
    public TreeBuilder(int vocabSize, Sampler sampler, TreeScores scores = TreeScores.Logits)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        if (vocabSize < 1 || vocabSize > sampler.VocabSize) throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabulary size {vocabSize} must be between 1 and the sampler's {sampler.VocabSize}");
        _sampler = sampler;
        _vocab = vocabSize;
        _scores = scores;
        _q = new float[vocabSize];
        _w = new float[vocabSize];
        _logits = scores == TreeScores.Probabilities ? new float[vocabSize] : Array.Empty<float>();
        _byPathProbability = ByPathProbability;
    }

    /// <summary>The sampler children are drawn with (its options decide greedy or sampled growth); a drafter swaps it
    /// when a new generation brings new sampling options.</summary>
    public Sampler Sampler
    {
        get => _sampler;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.VocabSize < _vocab) throw new ArgumentOutOfRangeException(nameof(value), $"the sampler's vocabulary of {value.VocabSize} is smaller than the builder's {_vocab}");
            _sampler = value;
        }
    }

    /// <summary>Candidate nodes grown so far this round.</summary>
    public int Count => _count;

    /// <summary>Token of each pool node.</summary>
    public ReadOnlySpan<int> Tokens => _token.AsSpan(0, _count);

    /// <summary>Parent pool node of each pool node, -1 under the pending token.</summary>
    public ReadOnlySpan<int> Parents => _parent.AsSpan(0, _count);

    /// <summary>Depth of each pool node: 1 under the pending token.</summary>
    public ReadOnlySpan<int> Depths => _depth.AsSpan(0, _count);

    /// <summary>Product of draft probabilities along the path to each pool node.</summary>
    public ReadOnlySpan<float> PathProbabilities => _pathProbability.AsSpan(0, _count);

    /// <summary>After <see cref="Build"/>: the tree node each pool node became, -1 for pool nodes the tree does not hold.</summary>
    public ReadOnlySpan<int> TreeIndices => _treeIndex.AsSpan(0, _count);

    /// <summary>
    /// Whether a round of setting <paramref name="spec"/> limited to <paramref name="maxNodes"/> nodes and
    /// <paramref name="maxDepth"/> levels grows any node into <paramref name="tree"/>; a drafter asks before it computes
    /// the root's scores.
    /// </summary>
    /// <exception cref="InvalidOperationException">A Sequoia setting without its shape (no acceptance profile given).</exception>
    public static bool Grows(TreeSpec spec, int maxNodes, int maxDepth, DraftTree tree)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(tree);
        if (spec.NeedsProfile) throw new InvalidOperationException($"tree '{spec.Text}' needs an acceptance profile: TreeSpec.WithProfile(AcceptanceProfile.Load(...))");
        return Math.Min(Math.Min(maxNodes, spec.NodeBudget), tree.Capacity) > 0 && Math.Min(maxDepth, spec.MaxDepth) > 0;
    }

    /// <summary>
    /// Grows a tree of setting <paramref name="spec"/> into <paramref name="tree"/> (already cleared), at most
    /// <paramref name="maxNodes"/> nodes and <paramref name="maxDepth"/> levels (further bounded by the setting and the
    /// tree's capacity). <paramref name="rootScores"/> ([vocab]) scores the children of the pending token; deeper levels
    /// are scored by <paramref name="expander"/>, one <see cref="ITreeExpander.Expand"/> call per level.
    /// </summary>
    /// <exception cref="InvalidOperationException">A Sequoia setting without its shape (no acceptance profile given).</exception>
    public void Build(TreeSpec spec, int maxNodes, int maxDepth, ReadOnlySpan<float> rootScores, ITreeExpander expander, DraftTree tree)
    {
        ArgumentNullException.ThrowIfNull(expander);
        _count = 0;
        if (!Grows(spec, maxNodes, maxDepth, tree)) return;
        bool sampling = !_sampler.Options.IsGreedy;
        if (sampling && tree.VocabSize < _vocab) throw new ArgumentException($"the tree stores distributions over {tree.VocabSize} tokens, fewer than the builder's {_vocab}", nameof(tree));
        if (rootScores.Length < _vocab) throw new ArgumentException($"root scores need {_vocab} entries, got {rootScores.Length}", nameof(rootScores));
        int budget = Math.Min(Math.Min(maxNodes, spec.NodeBudget), tree.Capacity);
        int depthLimit = Math.Min(maxDepth, spec.MaxDepth);
        _qSlots = 0;
        _bestCount = 0;
        _bestLimit = budget;
        if (sampling && _poolQ.Length == 0) _poolQ = new float[(TreeSpec.MaxNodes + 2) * _vocab];

        if (spec.Kind == TreeKind.Dynamic) GrowDynamic(rootScores, expander, spec.TopK, budget, depthLimit, sampling);
        else GrowStatic(rootScores, expander, spec.Shape!, budget, depthLimit, sampling);
        Write(tree, spec.Kind == TreeKind.Dynamic && !sampling ? budget : int.MaxValue, sampling);
    }

    /// <summary>Writes the pool into the tree: every node, or the best <paramref name="keep"/> by path probability.</summary>
    private void Write(DraftTree tree, int keep, bool sampling)
    {
        int n = _count;
        _order.Clear();
        for (int i = 0; i < n; i++) _order.Add(i);
        if (n > keep)
        {
            _order.Sort(_byPathProbability);
            _order.RemoveRange(keep, n - keep);
            _order.Sort();
        }
        Array.Fill(_treeIndex, -1, 0, n);
        Array.Fill(_slotToTreeDistribution, -1);
        foreach (int node in _order)
        {
            if (tree.IsFull) break;
            int parent = _parent[node];
            int treeParent = parent < 0 ? -1 : _treeIndex[parent];
            if (parent >= 0 && treeParent < 0) continue; // its parent was not kept
            int distribution = -1;
            int slot = _slot[node];
            if (sampling && slot >= 0)
            {
                if (_slotToTreeDistribution[slot] < 0) _slotToTreeDistribution[slot] = tree.AddDistribution(_poolQ.AsSpan(slot * _vocab, _vocab));
                distribution = _slotToTreeDistribution[slot];
            }
            _treeIndex[node] = tree.Add(_token[node], treeParent, _probability[node], distribution);
        }
    }

    /// <summary>Orders pool nodes by path probability, highest first, then by index.</summary>
    private int ByPathProbability(int a, int b)
    {
        int c = _pathProbability[b].CompareTo(_pathProbability[a]);
        return c != 0 ? c : a.CompareTo(b);
    }

    /// <summary>Asks the expander for the first <paramref name="count"/> entries of _frontier; afterwards _rowOf holds
    /// each frontier node's row (-1: not scored).</summary>
    private ReadOnlySpan<float> Score(ITreeExpander expander, int count)
    {
        Span<int> rows = _rows.AsSpan(0, count);
        rows.Fill(-1);
        ReadOnlySpan<float> scores = expander.Expand(this, _frontier.AsSpan(0, count), rows);
        for (int i = 0; i < count; i++) _rowOf[_frontier[i]] = rows[i];
        return scores;
    }

    /// <summary>A fixed shape, level by level: each level's realised nodes with children are scored in one call.</summary>
    private void GrowStatic(ReadOnlySpan<float> rootScores, ITreeExpander expander, TreeShape shape, int budget, int maxDepth, bool sampling)
    {
        int fits = 0;
        while (fits < shape.Count && shape.Depths[fits] <= maxDepth) fits++;
        shape = shape.Truncate(Math.Min(fits, budget));
        Span<int> poolOf = stackalloc int[shape.Count];
        poolOf.Fill(-1);

        Realise(shape, poolOf, -1, _count, ExpandNode(-1, rootScores, shape.RootChildren, sampling));
        for (int depth = 1; depth < shape.MaxDepth; depth++)
        {
            int count = 0;
            for (int j = 0; j < shape.Count; j++)
                if (shape.Depths[j] == depth && shape.ChildCounts[j] > 0 && poolOf[j] >= 0) _frontier[count++] = poolOf[j];
            if (count == 0) break;
            ReadOnlySpan<float> scores = Score(expander, count);
            for (int j = 0; j < shape.Count; j++)
            {
                if (shape.Depths[j] != depth || shape.ChildCounts[j] == 0 || poolOf[j] < 0) continue;
                int node = poolOf[j];
                int row = _rowOf[node];
                if (row < 0) continue; // not scored: it stays a leaf
                int first = _count;
                Realise(shape, poolOf, j, first, ExpandNode(node, scores.Slice(row * _vocab, _vocab), shape.ChildCounts[j], sampling));
            }
        }
    }

    /// <summary>The i-th child added under shape node <paramref name="templateParent"/> takes its i-th child in the
    /// shape (children are listed by rank).</summary>
    private static void Realise(TreeShape shape, Span<int> poolOf, int templateParent, int firstAdded, int added)
    {
        int i = 0;
        for (int j = 0; j < shape.Count && i < added; j++)
            if (shape.Parents[j] == templateParent) poolOf[j] = firstAdded + i++;
    }

    /// <summary>EAGLE-2's expansion: each level, the top-k nodes of the newest level by path probability get their
    /// top-k children (greedy) or k children drawn from q (sampling, which stops at the budget).</summary>
    private void GrowDynamic(ReadOnlySpan<float> rootScores, ITreeExpander expander, int topK, int budget, int maxDepth, bool sampling)
    {
        _added.Clear();
        int first = _count;
        int added = ExpandNode(-1, rootScores, sampling ? Math.Min(topK, budget) : topK, sampling);
        for (int i = 0; i < added; i++) _added.Add(first + i);
        for (int depth = 1; depth < maxDepth && _added.Count > 0; depth++)
        {
            if (sampling && _count >= budget) break;
            // The frontier: the newest level's most probable nodes (best first), scored in pool order.
            _added.Sort(_byPathProbability);
            _chosen.Clear();
            for (int i = 0; i < _added.Count && i < topK; i++) _chosen.Add(_added[i]);
            // A greedy tree keeps the budget's best nodes of the pool; a node below the current budget-th best path
            // probability cannot be kept, nor can its children (a child's path probability is at most its parent's),
            // so expanding it would only cost a draft row; skipping it writes the same tree (short of the pool's capacity).
            if (!sampling && _bestCount == _bestLimit)
            {
                int kept = 0;
                for (int i = 0; i < _chosen.Count; i++)
                    if (!(_pathProbability[_chosen[i]] < _best[0])) _chosen[kept++] = _chosen[i];
                _chosen.RemoveRange(kept, _chosen.Count - kept);
            }
            if (_chosen.Count == 0) break;
            for (int i = 0; i < _chosen.Count; i++) _frontier[i] = _chosen[i];
            Array.Sort(_frontier, 0, _chosen.Count);
            ReadOnlySpan<float> scores = Score(expander, _chosen.Count);
            _added.Clear();
            foreach (int node in _chosen)
            {
                int row = _rowOf[node];
                if (row < 0) continue;
                int children = sampling ? Math.Min(topK, budget - _count) : topK;
                if (children <= 0) break;
                first = _count;
                added = ExpandNode(node, scores.Slice(row * _vocab, _vocab), children, sampling);
                for (int i = 0; i < added; i++) _added.Add(first + i);
            }
        }
    }

    /// <summary>Adds up to <paramref name="children"/> children under pool node <paramref name="node"/> (-1: the pending
    /// token) from its <paramref name="scores"/>: the top-ranked tokens (greedy) or distinct draws from q (sampling, q
    /// stored for the verifier). Returns how many were added; they are the last pool entries, by rank.</summary>
    private int ExpandNode(int node, ReadOnlySpan<float> scores, int children, bool sampling)
    {
        int depth = node < 0 ? 1 : _depth[node] + 1;
        float above = node < 0 ? 1f : _pathProbability[node];
        children = Math.Min(children, Math.Min(_vocab, PoolCapacity - _count));
        if (children <= 0) return 0;
        scores = scores.Slice(0, _vocab);
        if (!sampling)
        {
            ReadOnlySpan<float> probabilities = _scores == TreeScores.Logits ? Softmax(scores, _q) : Normalise(scores, _q);
            int count = TopTokens(scores, children);
            for (int i = 0; i < count; i++) Add(_top[i], node, depth, probabilities[_top[i]], above, -1);
            return count;
        }

        int slot = _qSlots++;
        Span<float> q = _poolQ.AsSpan(slot * _vocab, _vocab);
        if (_scores == TreeScores.Probabilities)
        {
            TensorPrimitives.Log(scores, _logits);
            scores = _logits;
        }
        _sampler.TryDistribution(scores, q);
        q.CopyTo(_w);
        int added = 0;
        for (int i = 0; i < children; i++)
        {
            double total = 0;
            for (int v = 0; v < _vocab; v++) total += _w[v];
            if (total <= 1e-12) break;
            double r = _sampler.Random.NextFloat() * total, cumulative = 0;
            int token = -1;
            for (int v = 0; v < _vocab; v++)
            {
                if (_w[v] <= 0) continue;
                token = v;
                cumulative += _w[v];
                if (r < cumulative) break;
            }
            _w[token] = 0;
            Add(token, node, depth, q[token], above, slot);
            added++;
        }
        return added;
    }

    private void Add(int token, int parent, int depth, float probability, float above, int slot)
    {
        int i = _count++;
        _token[i] = token;
        _parent[i] = parent;
        _depth[i] = depth;
        _probability[i] = probability;
        _pathProbability[i] = above * probability;
        _slot[i] = slot;
        _rowOf[i] = -1;
        KeepBest(_pathProbability[i]);
    }

    /// <summary>Adds a path probability to the min-heap of the <c>_bestLimit</c> highest ones.</summary>
    private void KeepBest(float value)
    {
        if (_bestCount < _bestLimit)
        {
            int i = _bestCount++;
            while (i > 0 && _best[(i - 1) / 2] > value)
            {
                _best[i] = _best[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            _best[i] = value;
            return;
        }
        if (!(value > _best[0])) return;
        int j = 0;
        while (true)
        {
            int child = 2 * j + 1;
            if (child >= _bestCount) break;
            if (child + 1 < _bestCount && _best[child + 1] < _best[child]) child++;
            if (_best[child] >= value) break;
            _best[j] = _best[child];
            j = child;
        }
        _best[j] = value;
    }

    /// <summary>Fills _top with the <paramref name="count"/> largest scores' tokens, best first (ties: lower id).</summary>
    private int TopTokens(ReadOnlySpan<float> scores, int count)
    {
        int n = 0;
        for (int v = 0; v < scores.Length; v++)
        {
            float x = scores[v];
            if (n == count && !(x > scores[_top[n - 1]])) continue;
            int i = n < count ? n++ : n - 1;
            while (i > 0 && x > scores[_top[i - 1]])
            {
                _top[i] = _top[i - 1];
                i--;
            }
            _top[i] = v;
        }
        return n;
    }

    /// <summary>softmax(logits) into <paramref name="probabilities"/> (temperature 1: the draft's confidence).</summary>
    internal static ReadOnlySpan<float> Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        // The maximum is subtracted first because TensorPrimitives.SoftMax does not, and real logits overflow exp.
        Span<float> p = probabilities.Slice(0, logits.Length);
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), p);
        TensorPrimitives.Exp(p, p);
        TensorPrimitives.Multiply(p, 1f / TensorPrimitives.Sum(p), p);
        return p;
    }

    /// <summary>scores / Σ scores into <paramref name="probabilities"/>.</summary>
    private static ReadOnlySpan<float> Normalise(ReadOnlySpan<float> scores, Span<float> probabilities)
    {
        Span<float> p = probabilities.Slice(0, scores.Length);
        TensorPrimitives.Multiply(scores, 1f / TensorPrimitives.Sum(scores), p);
        return p;
    }
}
