using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Drafters;

/// <summary>
/// Drafts with a smaller model that shares the target's tokenizer. The draft model keeps its own KV cache;
/// before each round it cuts the cache back to the longest prefix it shares with the sequence (the accepted
/// draft tokens stay, nothing accepted is recomputed) and runs only the tokens it has not seen.
/// </summary>
/// <remarks>
/// Without a tree setting in the request it drafts a chain, one token per draft forward. With one
/// (<see cref="DraftRequest.Tree"/>) it grows a tree level by level: each level's nodes to expand go through
/// the draft in one batched forward with tree parents, so the draft cache then holds the expanded tree nodes
/// after the sequence. Greedy decoding takes each node's top-ranked tokens as its children; sampling draws them
/// from the draft distribution q without replacement and stores q in the tree for lossless verification.
/// Next round the accepted expanded nodes are kept in the cache by compaction (no recompute) and the rest dropped.
/// </remarks>
public sealed class DraftModelDrafter : IDrafter
{
    private const int PoolCapacity = 512;

    private readonly TransformerModel _model;
    private readonly InferenceState _state;
    private Sampler _sampler;
    private readonly int _vocab;
    private readonly float[] _q;          // [vocab] the draft distribution at the current position
    private readonly float[] _w;          // [vocab] scratch: what is left of q while drawing without replacement
    private readonly List<int> _cached;   // tokens whose keys/values are in cache rows [0, count), in order
    private readonly int[] _one = new int[1];

    // Tree rows: after a tree round, rows [_treeBase, _treeBase + _fedCount) hold expanded nodes; entry f is row
    // _treeBase + f: first the committed path (nodes every later frontier hangs under), then the last batch.
    private int _treeBase = -1;
    private int _fedCount;
    private readonly int[] _fedToken = new int[128];
    private readonly int[] _fedParent = new int[128]; // entry of the parent, -1: hangs off the sequence
    private readonly int[] _batchTokens = new int[64];
    private readonly int[] _batchParents = new int[64];
    private readonly List<int> _path = new();     // pool nodes of the committed path, root side first
    private readonly List<int> _batch = new();    // pool nodes of the last batch, in batch order
    private readonly List<int> _ancestors = new();
    private readonly List<int> _common = new();
    private readonly List<int> _keep = new();

    // The pool of candidate nodes grown in a tree round (a superset of the tree for EAGLE-2 re-ranking).
    private readonly Pool _pool = new(PoolCapacity);
    private float[] _poolQ = Array.Empty<float>(); // [expanded nodes, vocab] q of each expanded node (sampling)
    private int _qSlots;
    private readonly int[] _top = new int[TreeSpec.MaxNodes + 1];
    private readonly List<int> _frontier = new();
    private readonly List<int> _added = new();
    private readonly int[] _treeIndex = new int[PoolCapacity];
    private readonly int[] _slotToTreeDistribution = new int[TreeSpec.MaxNodes + 2];

    /// <summary>Creates a drafter over <paramref name="model"/>, sampling with the target's
    /// <paramref name="options"/> (so that p and q are filtered alike) from its own random stream. Its KV cache holds
    /// <paramref name="capacity"/> tokens, at most the draft's context (default: the draft's context, at most
    /// <see cref="Generator.DefaultMaxContext"/>); give it the generator's context so that both caches are sized alike.</summary>
    public DraftModelDrafter(TransformerModel model, SamplingOptions options, string name, int? capacity = null)
    {
        _model = model;
        _state = model.CreateState(capacity is int asked ? Math.Clamp(asked, 1, model.Config.MaxPositions) : null);
        _cached = new List<int>(_state.Cache.Capacity);
        _sampler = NewSampler(options);
        _vocab = model.Config.VocabSize;
        _q = new float[_vocab];
        _w = new float[_vocab];
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int VocabSize => _model.Config.VocabSize;

    /// <inheritdoc />
    public int? MaxSequenceLength => _state.Cache.Capacity;

    /// <summary>The draft model.</summary>
    public TransformerModel Model => _model;

    /// <summary>The draft's run state (its KV cache), for tests.</summary>
    internal InferenceState State => _state;

    /// <summary>Tokens held in the draft cache in sequence order (tree rows excluded), for tests.</summary>
    internal IReadOnlyList<int> CachedTokens => _cached;

    /// <summary>Rows of expanded tree nodes after the cached sequence (0 when none), for tests.</summary>
    internal int TreeRows => _treeBase >= 0 ? _fedCount : 0;

    /// <inheritdoc />
    public void UseSampling(SamplingOptions options) => _sampler = NewSampler(options);

    // The draft's own random stream, apart from the target's, with the target's filters so that p and q are filtered alike.
    private Sampler NewSampler(SamplingOptions options) => new(_model.Config.VocabSize, options with { Seed = options.Seed ^ 0x5DEECE66DUL });

    /// <inheritdoc />
    public void Reset()
    {
        _state.Cache.Truncate(0);
        _cached.Clear();
        _treeBase = -1;
        _fedCount = 0;
    }

    /// <inheritdoc />
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        KeepAccepted(sequence);
        if (request.Tree is TreeSpec spec) ProposeTree(sequence, request, spec, tree);
        else ProposeChain(sequence, request, tree);
    }

    private void ProposeChain(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        int k = Math.Min(request.MaxDepth, Math.Min(request.MaxNodes, tree.Capacity));
        // The draft feeds k - 1 of its own tokens after the sequence: keep inside its context.
        k = Math.Min(k, _state.Cache.Capacity - sequence.Length + 1);
        if (k <= 0) return;

        ReadOnlySpan<float> logits = CatchUp(sequence);
        bool sampling = !_sampler.Options.IsGreedy;
        int parent = -1;
        for (int j = 0; j < k; j++)
        {
            int token;
            float probability;
            int distribution = -1;
            if (sampling)
            {
                _sampler.TryDistribution(logits, _q);
                token = _sampler.SampleFrom(_q);
                probability = _q[token];
                distribution = tree.AddDistribution(_q);
            }
            else
            {
                token = Sampler.ArgMax(logits);
                probability = Softmax(logits, _q)[token];
            }
            parent = tree.Add(token, parent, probability, distribution);
            if (j == k - 1) break;
            _one[0] = token;
            logits = _model.Forward(_state, _one, default, LogitsRows.Last);
            _cached.Add(token);
        }
    }

    /// <summary>After a tree round: keeps the rows of the expanded nodes that the sequence accepted (moved in place
    /// after the cached prefix, no recompute) and drops the other tree rows.</summary>
    internal void KeepAccepted(ReadOnlySpan<int> sequence)
    {
        if (_treeBase < 0) return;
        int c = _treeBase;
        _treeBase = -1;
        bool extends = _cached.Count == c && sequence.Length > c;
        for (int i = 0; extends && i < c; i++) extends = _cached[i] == sequence[i];
        _keep.Clear();
        if (extends)
        {
            int parent = -1;
            for (int t = c; t < sequence.Length; t++)
            {
                int found = -1;
                for (int f = parent + 1; f < _fedCount; f++)
                    if (_fedParent[f] == parent && _fedToken[f] == sequence[t]) { found = f; break; }
                if (found < 0) break;
                _keep.Add(found);
                parent = found;
            }
        }
        Span<int> rows = stackalloc int[_keep.Count];
        for (int i = 0; i < rows.Length; i++) rows[i] = _keep[i];
        _state.Cache.Compact(c, rows);
        for (int i = 0; i < rows.Length; i++) _cached.Add(sequence[c + i]);
        _fedCount = 0;
    }

    private void ProposeTree(ReadOnlySpan<int> sequence, DraftRequest request, TreeSpec spec, DraftTree tree)
    {
        if (spec.NeedsProfile) throw new InvalidOperationException($"tree '{spec.Text}' needs an acceptance profile: TreeSpec.WithProfile(AcceptanceProfile.Load(...))");
        int budget = Math.Min(Math.Min(request.MaxNodes, spec.NodeBudget), tree.Capacity);
        int maxDepth = Math.Min(request.MaxDepth, spec.MaxDepth);
        if (budget <= 0 || maxDepth <= 0 || sequence.Length > _state.Cache.Capacity) return;

        ReadOnlySpan<float> rootLogits = CatchUp(sequence);
        bool sampling = !_sampler.Options.IsGreedy;
        _pool.Clear();
        _qSlots = 0;
        _fedCount = 0;
        _path.Clear();
        _batch.Clear();
        if (sampling && _poolQ.Length == 0) _poolQ = new float[(TreeSpec.MaxNodes + 2) * _vocab];

        if (spec.Kind == TreeKind.Dynamic) GrowDynamic(rootLogits, spec.TopK, budget, maxDepth, sampling);
        else GrowStatic(rootLogits, spec.Shape!, budget, maxDepth, sampling);

        // The tree: every pool node, or for greedy dynamic trees the best `budget` by path probability (EAGLE-2's
        // re-ranking; a parent never ranks below its child, so the kept set is a tree).
        int n = _pool.Count;
        var order = new List<int>(n);
        for (int i = 0; i < n; i++) order.Add(i);
        if (spec.Kind == TreeKind.Dynamic && !sampling && n > budget)
        {
            order.Sort(ByPathProbability);
            order.RemoveRange(budget, n - budget);
            order.Sort();
        }
        Array.Fill(_treeIndex, -1, 0, n);
        Array.Fill(_slotToTreeDistribution, -1);
        foreach (int node in order)
        {
            if (tree.IsFull) break;
            int parent = _pool.Parent[node];
            int treeParent = parent < 0 ? -1 : _treeIndex[parent];
            if (parent >= 0 && treeParent < 0) continue; // its parent was not kept
            int distribution = -1;
            int slot = _pool.Slot[node];
            if (sampling && slot >= 0)
            {
                if (_slotToTreeDistribution[slot] < 0) _slotToTreeDistribution[slot] = tree.AddDistribution(_poolQ.AsSpan(slot * _vocab, _vocab));
                distribution = _slotToTreeDistribution[slot];
            }
            _treeIndex[node] = tree.Add(_pool.Token[node], treeParent, _pool.Probability[node], distribution);
        }
    }

    /// <summary>Orders pool nodes by path probability, highest first, then by index.</summary>
    private int ByPathProbability(int a, int b)
    {
        int c = _pool.PathProbability[b].CompareTo(_pool.PathProbability[a]);
        return c != 0 ? c : a.CompareTo(b);
    }

    /// <summary>A fixed shape, level by level: each level's realised nodes with children go through the draft in one forward.</summary>
    private void GrowStatic(ReadOnlySpan<float> rootLogits, TreeShape shape, int budget, int maxDepth, bool sampling)
    {
        int fits = 0;
        while (fits < shape.Count && shape.Depths[fits] <= maxDepth) fits++;
        shape = shape.Truncate(Math.Min(fits, budget));
        var poolOf = new int[shape.Count];
        Array.Fill(poolOf, -1);

        // The i-th child added under a node takes the node's i-th child in the shape (children are listed by rank).
        void Realise(int templateParent, int firstAdded, int added)
        {
            int i = 0;
            for (int j = 0; j < shape.Count && i < added; j++)
                if (shape.Parents[j] == templateParent) poolOf[j] = firstAdded + i++;
        }

        Realise(-1, _pool.Count, ExpandNode(-1, rootLogits, shape.RootChildren, sampling));
        for (int depth = 1; depth < shape.MaxDepth; depth++)
        {
            _frontier.Clear();
            for (int j = 0; j < shape.Count; j++)
                if (shape.Depths[j] == depth && shape.ChildCounts[j] > 0 && poolOf[j] >= 0) _frontier.Add(poolOf[j]);
            if (_frontier.Count == 0) break;
            ReadOnlySpan<float> logits = Feed(_frontier);
            for (int j = 0; j < shape.Count; j++)
            {
                if (shape.Depths[j] != depth || shape.ChildCounts[j] == 0 || poolOf[j] < 0) continue;
                int node = poolOf[j];
                if (_pool.Fed[node] < 0) continue; // did not fit the draft's batch or context
                int first = _pool.Count;
                Realise(j, first, ExpandNode(node, logits.Slice(_pool.Fed[node] * _vocab, _vocab), shape.ChildCounts[j], sampling));
            }
        }
    }

    /// <summary>EAGLE-2's expansion: each level, the top-k nodes of the newest level by path probability get their
    /// top-k children (greedy) or k children drawn from q (sampling, which stops at the budget instead of re-ranking,
    /// since dropping a drawn node for its own probability would bias the verifier).</summary>
    private void GrowDynamic(ReadOnlySpan<float> rootLogits, int topK, int budget, int maxDepth, bool sampling)
    {
        _added.Clear();
        int first = _pool.Count;
        int added = ExpandNode(-1, rootLogits, sampling ? Math.Min(topK, budget) : topK, sampling);
        for (int i = 0; i < added; i++) _added.Add(first + i);
        var chosen = new List<int>(topK);
        for (int depth = 1; depth < maxDepth && _added.Count > 0; depth++)
        {
            if (sampling && _pool.Count >= budget) break;
            // The frontier: the newest level's most probable nodes (best first), fed in pool order.
            _added.Sort(ByPathProbability);
            chosen.Clear();
            chosen.AddRange(_added.Take(topK));
            _frontier.Clear();
            _frontier.AddRange(chosen);
            _frontier.Sort();
            ReadOnlySpan<float> logits = Feed(_frontier);
            _added.Clear();
            foreach (int node in chosen)
            {
                if (_pool.Fed[node] < 0) continue;
                int children = sampling ? Math.Min(topK, budget - _pool.Count) : topK;
                if (children <= 0) break;
                first = _pool.Count;
                added = ExpandNode(node, logits.Slice(_pool.Fed[node] * _vocab, _vocab), children, sampling);
                for (int i = 0; i < added; i++) _added.Add(first + i);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="frontier"/> (pool indices, ascending, parents already expanded) through the draft in one
    /// forward with tree parents, after the cached sequence. The ancestors shared by the whole frontier are committed
    /// to the cache as a path (kept from the previous batch by compaction, never run again): a batch token with no
    /// parent in the batch sees the cached rows, so it must hang under the last of them. The batch is the rest of the
    /// frontier's ancestors plus the frontier itself. Nodes that do not fit the draft's batch or context are left out
    /// (their fed index stays -1). Returns the logits, row = fed index (the node's index in this batch).
    /// </summary>
    private ReadOnlySpan<float> Feed(List<int> frontier)
    {
        int c = _cached.Count;
        // The common ancestor path of the frontier (strict ancestors), root side first.
        _common.Clear();
        for (int i = 0; i < frontier.Count; i++)
        {
            Ancestors(frontier[i], _ancestors);
            if (i == 0) _common.AddRange(_ancestors);
            else
            {
                int n = 0;
                while (n < _common.Count && n < _ancestors.Count && _common[n] == _ancestors[n]) n++;
                _common.RemoveRange(n, _common.Count - n);
            }
        }
        // Commit the new part of the path: those nodes sit in the last batch; compaction moves them into place.
        bool extends = _common.Count >= _path.Count;
        for (int i = 0; extends && i < _path.Count; i++) extends = _common[i] == _path[i];
        for (int i = _path.Count; extends && i < _common.Count; i++) extends = _pool.Fed[_common[i]] >= 0;
        if (!extends)
        {
            // Not expected (a frontier hangs under the previous one); fall back to running everything again.
            _path.Clear();
            _common.Clear();
            _state.Cache.Truncate(c);
        }
        else
        {
            Span<int> rows = stackalloc int[_common.Count - _path.Count];
            for (int i = 0; i < rows.Length; i++) rows[i] = _pool.Fed[_common[_path.Count + i]];
            if (rows.Length > 0) _state.Cache.Compact(c + _path.Count, rows);
            else _state.Cache.Truncate(c + _path.Count);
            for (int i = _path.Count; i < _common.Count; i++) _path.Add(_common[i]);
        }
        foreach (int node in _batch) _pool.Fed[node] = -1;
        _batch.Clear();

        // The batch: the frontier's ancestors below the path, and the frontier, in pool (topological) order.
        int room = Math.Min(_state.MaxBatch, _state.Cache.Capacity - c - _path.Count);
        int last = _path.Count > 0 ? _path[^1] : -1;
        var inBatch = new HashSet<int>();
        foreach (int f in frontier)
        {
            int added = 0;
            for (int j = f; j != last && !inBatch.Contains(j); j = _pool.Parent[j]) added++;
            if (inBatch.Count + added > room) break;
            for (int j = f; j != last && inBatch.Add(j); j = _pool.Parent[j]) { }
        }
        if (inBatch.Count == 0) return default;
        _batch.AddRange(inBatch);
        _batch.Sort();
        for (int i = 0; i < _batch.Count; i++) _pool.Fed[_batch[i]] = i;
        for (int i = 0; i < _batch.Count; i++)
        {
            int node = _batch[i];
            int parent = _pool.Parent[node];
            _batchTokens[i] = _pool.Token[node];
            _batchParents[i] = parent == last ? -1 : _pool.Fed[parent];
        }
        ReadOnlySpan<float> logits = _model.Forward(_state, _batchTokens.AsSpan(0, _batch.Count), _batchParents.AsSpan(0, _batch.Count), LogitsRows.All);

        // What the cache now holds after the sequence: the path, then the batch.
        _treeBase = c;
        _fedCount = 0;
        for (int i = 0; i < _path.Count; i++)
        {
            _fedToken[_fedCount] = _pool.Token[_path[i]];
            _fedParent[_fedCount++] = i - 1;
        }
        for (int i = 0; i < _batch.Count; i++)
        {
            int parent = _pool.Parent[_batch[i]];
            _fedToken[_fedCount] = _pool.Token[_batch[i]];
            _fedParent[_fedCount++] = parent == last ? _path.Count - 1 : _path.Count + _pool.Fed[parent];
        }
        return logits;
    }

    /// <summary>Strict ancestors of pool node <paramref name="node"/>, root side first.</summary>
    private void Ancestors(int node, List<int> result)
    {
        result.Clear();
        for (int j = _pool.Parent[node]; j >= 0; j = _pool.Parent[j]) result.Add(j);
        result.Reverse();
    }

    /// <summary>Adds up to <paramref name="children"/> children under pool node <paramref name="node"/> (-1: the pending
    /// token) from its draft <paramref name="logits"/>: the top-ranked tokens (greedy) or distinct draws from q
    /// (sampling, q stored for the verifier). Returns how many were added; they are the last pool entries, by rank.</summary>
    private int ExpandNode(int node, ReadOnlySpan<float> logits, int children, bool sampling)
    {
        int depth = node < 0 ? 1 : _pool.Depth[node] + 1;
        float above = node < 0 ? 1f : _pool.PathProbability[node];
        children = Math.Min(children, Math.Min(_vocab, PoolCapacity - _pool.Count));
        if (children <= 0) return 0;
        if (!sampling)
        {
            ReadOnlySpan<float> probabilities = Softmax(logits, _q);
            int count = TopTokens(logits, children);
            for (int i = 0; i < count; i++) _pool.Add(_top[i], node, depth, probabilities[_top[i]], above, -1);
            return count;
        }

        int slot = _qSlots++;
        Span<float> q = _poolQ.AsSpan(slot * _vocab, _vocab);
        _sampler.TryDistribution(logits, q);
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
            _pool.Add(token, node, depth, q[token], above, slot);
            added++;
        }
        return added;
    }

    /// <summary>Fills _top with the <paramref name="count"/> largest logits' tokens, best first (ties: lower id).</summary>
    private int TopTokens(ReadOnlySpan<float> logits, int count)
    {
        int n = 0;
        for (int v = 0; v < logits.Length; v++)
        {
            float x = logits[v];
            if (n == count && !(x > logits[_top[n - 1]])) continue;
            int i = n < count ? n++ : n - 1;
            while (i > 0 && x > logits[_top[i - 1]])
            {
                _top[i] = _top[i - 1];
                i--;
            }
            _top[i] = v;
        }
        return n;
    }

    /// <summary>Brings the draft cache in line with <paramref name="sequence"/> and returns the logits after its last token.</summary>
    private ReadOnlySpan<float> CatchUp(ReadOnlySpan<int> sequence)
    {
        int common = 0;
        int max = Math.Min(_cached.Count, sequence.Length);
        while (common < max && _cached[common] == sequence[common]) common++;
        // The logits after the last token are needed, so at least that token is run.
        if (common == sequence.Length) common--;
        _state.Cache.Truncate(common);
        _cached.RemoveRange(common, _cached.Count - common);

        ReadOnlySpan<float> logits = default;
        for (int start = common; start < sequence.Length; start += _state.MaxBatch)
        {
            int n = Math.Min(_state.MaxBatch, sequence.Length - start);
            logits = _model.Forward(_state, sequence.Slice(start, n), default, LogitsRows.Last);
            for (int i = start; i < start + n; i++) _cached.Add(sequence[i]);
        }
        return logits;
    }

    /// <summary>softmax(logits) into <paramref name="probabilities"/> (temperature 1: the draft's confidence).</summary>
    private static ReadOnlySpan<float> Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        // Vectorised (a scalar MathF.Exp loop cost about 2 µs per draft token over a 512-token vocabulary, a few percent of
        // a stories260K step); the maximum is subtracted first because TensorPrimitives.SoftMax does not, and real logits
        // overflow exp.
        Span<float> p = probabilities.Slice(0, logits.Length);
        System.Numerics.Tensors.TensorPrimitives.Subtract(logits, System.Numerics.Tensors.TensorPrimitives.Max(logits), p);
        System.Numerics.Tensors.TensorPrimitives.Exp(p, p);
        System.Numerics.Tensors.TensorPrimitives.Multiply(p, 1f / System.Numerics.Tensors.TensorPrimitives.Sum(p), p);
        return p;
    }

    /// <inheritdoc />
    public void Dispose() => _state.Dispose();

    /// <summary>Candidate nodes of one round, in the order they were drafted (parents first).</summary>
    private sealed class Pool(int capacity)
    {
        public readonly int[] Token = new int[capacity];
        public readonly int[] Parent = new int[capacity];       // pool index, -1: under the pending token
        public readonly int[] Depth = new int[capacity];
        public readonly float[] Probability = new float[capacity];
        public readonly float[] PathProbability = new float[capacity];
        public readonly int[] Slot = new int[capacity];         // q slot the token was drawn from (sampling), else -1
        public readonly int[] Fed = new int[capacity];          // fed index (row after the sequence) once expanded, else -1
        public int Count;

        public void Clear() => Count = 0;

        public void Add(int token, int parent, int depth, float probability, float above, int slot)
        {
            int i = Count++;
            Token[i] = token;
            Parent[i] = parent;
            Depth[i] = depth;
            Probability[i] = probability;
            PathProbability[i] = above * probability;
            Slot[i] = slot;
            Fed[i] = -1;
        }
    }
}
