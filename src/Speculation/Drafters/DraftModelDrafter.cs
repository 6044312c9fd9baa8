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
/// batched forward (<see cref="TransformerModel.ForwardTree"/>) whose parents are rows earlier levels left in the
/// cache, so a tree of depth d costs d draft passes and no path is run twice; the draft cache then holds the expanded
/// tree nodes after the sequence.
/// Next round the accepted expanded nodes are kept in the cache by compaction (no recompute) and the rest dropped.
/// </remarks>
public sealed class DraftModelDrafter : IDrafter, ITreeExpander
{
    private readonly TransformerModel _model;
    private readonly InferenceState _state;
    private Sampler _sampler;
    private readonly int _vocab;
    private readonly float[] _q;          // [vocab] the draft distribution at the current position
    private readonly List<int> _cached;   // tokens whose keys/values are in cache rows [0, count), in order
    private readonly int[] _one = new int[1];

    // Tree rows: after a tree round, rows [_treeBase, _treeBase + _fedCount) hold the expanded nodes in the order they
    // were fed; entry f is row _treeBase + f. A level's batch points at its parents among the earlier entries.
    private int _treeBase = -1;
    private int _fedCount;
    private readonly int[] _fedToken = new int[TreeBuilder.PoolCapacity];
    private readonly int[] _fedParent = new int[TreeBuilder.PoolCapacity]; // entry of the parent, -1: hangs off the sequence
    private readonly int[] _batchTokens = new int[TreeBuilder.PoolCapacity];
    private readonly List<int> _keep = new();

    // The tree of a round is grown by the shared builder; this drafter scores its frontiers (ITreeExpander).
    private readonly TreeBuilder _builder;
    private readonly int[] _fed = new int[TreeBuilder.PoolCapacity]; // entry (row after the sequence) of a builder node, else -1

    // Rows handed to the builder after the score rewriter (benchmarks only): [PoolCapacity or batch, vocab].
    private float[] _rewritten = [];

    /// <summary>Rewrites the draft's scores before a tree is grown from them (benchmark oracles; null: the draft's own
    /// logits). Chains are unaffected: their tokens are the draft's argmax.</summary>
    public IDraftScoreRewriter? ScoreRewriter { get; set; }

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
    public void UseSampling(SamplingOptions options)
    {
        _sampler = NewSampler(options);
        _builder.Sampler = _sampler; // trees are grown greedily or sampled as the new options say
    }

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
        _treeBase = _cached.Count;
        _fedCount = 0;
        Array.Fill(_fed, -1);
        if (ScoreRewriter is not null) rootLogits = RewriteRoot(rootLogits);
        _builder.Build(spec, request.MaxNodes, request.MaxDepth, rootLogits, this, tree);
    }

    /// <summary>The root's scores passed through <see cref="ScoreRewriter"/>.</summary>
    private ReadOnlySpan<float> RewriteRoot(ReadOnlySpan<float> scores)
    {
        if (_rewritten.Length < _vocab) _rewritten = new float[_state.MaxBatch * _vocab];
        scores.Slice(0, _vocab).CopyTo(_rewritten);
        ScoreRewriter!.Rewrite(default, _rewritten.AsSpan(0, _vocab));
        return _rewritten.AsSpan(0, _vocab);
    }

    /// <summary>A level's <paramref name="rowCount"/> rows passed through <see cref="ScoreRewriter"/>, each with the path of
    /// its frontier node.</summary>
    private ReadOnlySpan<float> RewriteLevel(ReadOnlySpan<float> scores, int rowCount, ReadOnlySpan<int> frontier, ReadOnlySpan<int> rows)
    {
        if (_rewritten.Length < rowCount * _vocab) _rewritten = new float[Math.Max(rowCount, _state.MaxBatch) * _vocab];
        scores.Slice(0, rowCount * _vocab).CopyTo(_rewritten);
        Span<int> path = stackalloc int[TreeSpec.MaxNodes + 1];
        for (int i = 0; i < frontier.Length; i++)
        {
            if (rows[i] < 0) continue;
            int length = 0;
            for (int n = frontier[i]; n >= 0 && length < path.Length; n = _builder.Parents[n]) path[length++] = _builder.Tokens[n];
            path.Slice(0, length).Reverse();
            ScoreRewriter!.Rewrite(path.Slice(0, length), _rewritten.AsSpan(rows[i] * _vocab, _vocab));
        }
        return _rewritten.AsSpan(0, rowCount * _vocab);
    }

    /// <summary>
    /// Scores <paramref name="frontier"/> (builder nodes, ascending): runs them through the draft in one forward after
    /// the rows fed so far this round. Each node's parent is the pending token (the node hangs off the sequence) or an
    /// expanded node whose keys and values an earlier level left in the cache, so no path is run twice. Nodes that do
    /// not fit the draft's batch or context are left out (row -1).
    /// </summary>
    ReadOnlySpan<float> ITreeExpander.Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
    {
        int room = Math.Min(_state.MaxBatch, Math.Min(_state.Cache.Capacity - _state.Cache.Length, _fedToken.Length - _fedCount));
        int first = _fedCount, n = 0;
        for (int i = 0; i < frontier.Length; i++)
        {
            int node = frontier[i];
            int parent = tree.Parents[node];
            rows[i] = -1;
            if (n == room || (parent >= 0 && _fed[parent] < 0)) continue;
            _batchTokens[n] = tree.Tokens[node];
            _fedToken[first + n] = tree.Tokens[node];
            _fedParent[first + n] = parent < 0 ? -1 : _fed[parent];
            _fed[node] = first + n;
            rows[i] = n++;
        }
        if (n == 0) return default;
        _fedCount = first + n;
        ReadOnlySpan<float> logits = _model.ForwardTree(_state, _batchTokens.AsSpan(0, n), _treeBase, _fedParent.AsSpan(0, _fedCount), LogitsRows.All);
        return ScoreRewriter is null ? logits : RewriteLevel(logits, n, frontier, rows);
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
