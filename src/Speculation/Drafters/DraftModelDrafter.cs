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
/// (<see cref="DraftRequest.Tree"/>) the shared <see cref="TreeBuilder"/> grows a tree level by level and this
/// drafter scores each level (<see cref="ITreeExpander"/>): the level's nodes to expand go through the draft in one
/// batched forward with tree parents, so the draft cache then holds the expanded tree nodes after the sequence.
/// Next round the accepted expanded nodes are kept in the cache by compaction (no recompute) and the rest dropped.
/// </remarks>
public sealed class DraftModelDrafter : IDrafter, ITreeExpander
{
    private readonly TransformerModel _model;
    private readonly InferenceState _state;
    private readonly Sampler _sampler;
    private readonly int _vocab;
    private readonly float[] _q;          // [vocab] the draft distribution at the current position
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

    // The tree of a round is grown by the shared builder; this drafter scores its frontiers (ITreeExpander).
    private readonly TreeBuilder _builder;
    private readonly int[] _fed = new int[TreeBuilder.PoolCapacity]; // fed index (row after the sequence) of a builder node, else -1
    private readonly HashSet<int> _inBatch = new();

    /// <summary>Creates a drafter over <paramref name="model"/>, sampling with the target's
    /// <paramref name="options"/> (so that p and q are filtered alike) from its own random stream. Its KV cache holds
    /// <paramref name="capacity"/> tokens, at most the draft's context (default: the draft's context, at most
    /// <see cref="Generator.DefaultMaxContext"/>); give it the generator's context so that both caches are sized alike.</summary>
    public DraftModelDrafter(TransformerModel model, SamplingOptions options, string name, int? capacity = null)
    {
        _model = model;
        _state = model.CreateState(capacity is int asked ? Math.Clamp(asked, 1, model.Config.MaxPositions) : null);
        _cached = new List<int>(_state.Cache.Capacity);
        _sampler = new Sampler(model.Config.VocabSize, options with { Seed = options.Seed ^ 0x5DEECE66DUL });
        _vocab = model.Config.VocabSize;
        _q = new float[_vocab];
        _builder = new TreeBuilder(_vocab, _sampler);
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
                probability = TreeBuilder.Softmax(logits, _q)[token];
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
        if (!TreeBuilder.Grows(spec, request.MaxNodes, request.MaxDepth, tree) || sequence.Length > _state.Cache.Capacity) return;
        ReadOnlySpan<float> rootLogits = CatchUp(sequence);
        _fedCount = 0;
        _path.Clear();
        _batch.Clear();
        Array.Fill(_fed, -1);
        _builder.Build(spec, request.MaxNodes, request.MaxDepth, rootLogits, this, tree);
    }

    /// <inheritdoc />
    ReadOnlySpan<float> ITreeExpander.Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
    {
        ReadOnlySpan<float> logits = Feed(tree, frontier);
        for (int i = 0; i < frontier.Length; i++) rows[i] = _fed[frontier[i]];
        return logits;
    }

    /// <summary>
    /// Runs <paramref name="frontier"/> (pool indices, ascending, parents already expanded) through the draft in one
    /// forward with tree parents, after the cached sequence. The ancestors shared by the whole frontier are committed
    /// to the cache as a path (kept from the previous batch by compaction, never run again): a batch token with no
    /// parent in the batch sees the cached rows, so it must hang under the last of them. The batch is the rest of the
    /// frontier's ancestors plus the frontier itself. Nodes that do not fit the draft's batch or context are left out
    /// (their fed index stays -1). Returns the logits, row = fed index (the node's index in this batch).
    /// </summary>
    private ReadOnlySpan<float> Feed(TreeBuilder tree, ReadOnlySpan<int> frontier)
    {
        int c = _cached.Count;
        // The common ancestor path of the frontier (strict ancestors), root side first.
        _common.Clear();
        for (int i = 0; i < frontier.Length; i++)
        {
            Ancestors(tree, frontier[i], _ancestors);
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
        for (int i = _path.Count; extends && i < _common.Count; i++) extends = _fed[_common[i]] >= 0;
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
            for (int i = 0; i < rows.Length; i++) rows[i] = _fed[_common[_path.Count + i]];
            if (rows.Length > 0) _state.Cache.Compact(c + _path.Count, rows);
            else _state.Cache.Truncate(c + _path.Count);
            for (int i = _path.Count; i < _common.Count; i++) _path.Add(_common[i]);
        }
        foreach (int node in _batch) _fed[node] = -1;
        _batch.Clear();

        // The batch: the frontier's ancestors below the path, and the frontier, in pool (topological) order.
        int room = Math.Min(_state.MaxBatch, _state.Cache.Capacity - c - _path.Count);
        int last = _path.Count > 0 ? _path[^1] : -1;
        HashSet<int> inBatch = _inBatch;
        inBatch.Clear();
        foreach (int f in frontier)
        {
            int added = 0;
            for (int j = f; j != last && !inBatch.Contains(j); j = tree.Parents[j]) added++;
            if (inBatch.Count + added > room) break;
            for (int j = f; j != last && inBatch.Add(j); j = tree.Parents[j]) { }
        }
        if (inBatch.Count == 0) return default;
        _batch.AddRange(inBatch);
        _batch.Sort();
        for (int i = 0; i < _batch.Count; i++) _fed[_batch[i]] = i;
        for (int i = 0; i < _batch.Count; i++)
        {
            int node = _batch[i];
            int parent = tree.Parents[node];
            _batchTokens[i] = tree.Tokens[node];
            _batchParents[i] = parent == last ? -1 : _fed[parent];
        }
        ReadOnlySpan<float> logits = _model.Forward(_state, _batchTokens.AsSpan(0, _batch.Count), _batchParents.AsSpan(0, _batch.Count), LogitsRows.All);

        // What the cache now holds after the sequence: the path, then the batch.
        _treeBase = c;
        _fedCount = 0;
        for (int i = 0; i < _path.Count; i++)
        {
            _fedToken[_fedCount] = tree.Tokens[_path[i]];
            _fedParent[_fedCount++] = i - 1;
        }
        for (int i = 0; i < _batch.Count; i++)
        {
            int parent = tree.Parents[_batch[i]];
            _fedToken[_fedCount] = tree.Tokens[_batch[i]];
            _fedParent[_fedCount++] = parent == last ? _path.Count - 1 : _path.Count + _fed[parent];
        }
        return logits;
    }

    /// <summary>Strict ancestors of pool node <paramref name="node"/>, root side first.</summary>
    private static void Ancestors(TreeBuilder tree, int node, List<int> result)
    {
        result.Clear();
        for (int j = tree.Parents[node]; j >= 0; j = tree.Parents[j]) result.Add(j);
        result.Reverse();
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

    /// <inheritdoc />
    public void Dispose() => _state.Dispose();
}
