using SpecCore.Kernels;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Scores tree nodes for the shared <see cref="TreeBuilder"/> with an EAGLE head (EAGLE-2 dynamic trees, static and
/// Sequoia shapes). Each level runs only the nodes it expands, as one head step after the committed slots and the
/// root (the shared slots) and the nodes earlier levels left in the head cache (the tree region, seen by their
/// descendants only; <see cref="AttentionBatch.SharedLength"/>), so a tree of depth d costs d head steps of its new
/// nodes and no path is run twice. A node's g is its parent's output, kept per expanded node. Draft-vocabulary logits
/// are handed back over the target vocabulary through d2t, −∞ elsewhere.
/// </summary>
internal sealed class EagleTreeExpander : ITreeExpander, IDisposable
{
    private readonly Eagle3Head _head;
    private readonly IBackend _b;
    private readonly int _rows;                 // most expanded nodes per round
    private readonly DeviceTensor _outputs;     // [rows + 1, H] next-depth g: the root's in row 0, expanded node f's in row f + 1
    private readonly int[] _fedOf = new int[TreeBuilder.PoolCapacity]; // feed index (tree region row) of an expanded builder node, else -1
    private readonly int[] _regionParents;      // [rows] parent region row of each expanded node, -1: the root
    private readonly int[] _sources;            // [rows] row of _outputs holding the g of each node of the level
    private readonly int[] _tokens, _positions;
    private readonly float[] _mapped;           // [rows, V] scores over the target vocabulary
    private readonly float[] _root;             // [V]
    private Eagle3State? _s;
    private int _sharedLength, _length, _fed;

    public EagleTreeExpander(Eagle3Head head, int rows)
    {
        _head = head;
        _b = head.Backend;
        _rows = rows;
        _outputs = _b.Allocate(DType.F32, rows + 1, head.Config.HiddenSize);
        _regionParents = new int[rows];
        _sources = new int[rows];
        _tokens = new int[rows];
        _positions = new int[rows];
        // Target ids outside the draft vocabulary are never written: they stay −∞ (probability 0) for good.
        _mapped = new float[(long)rows * head.TargetVocabSize];
        _root = new float[head.TargetVocabSize];
        Array.Fill(_mapped, float.NegativeInfinity);
        Array.Fill(_root, float.NegativeInfinity);
    }

    /// <summary>Starts a round after the root step just run on <paramref name="s"/> (its logits in row 0, its slot
    /// <paramref name="rootSlot"/>, the pending token at rotary position <paramref name="length"/> − 1); returns the root's
    /// scores over the target vocabulary.</summary>
    public ReadOnlySpan<float> Begin(Eagle3State s, int rootSlot, int length)
    {
        (_s, _sharedLength, _length, _fed) = (s, rootSlot + 1, length, 0);
        Array.Fill(_fedOf, -1);
        _b.CopyRows(_head.FeedBackSource(s), 0, _outputs, 0, 1);
        Map(_head.ReadLogits(s, 1), _root);
        return _root;
    }

    /// <inheritdoc />
    public ReadOnlySpan<float> Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
    {
        Eagle3State s = _s ?? throw new InvalidOperationException("Begin starts a round");
        int room = Math.Min(s.MaxBatch, Math.Min(_rows - _fed, s.Cache.Capacity - _sharedLength - _fed));
        ReadOnlySpan<int> parents = tree.Parents;
        int first = _fed, n = 0;
        for (int i = 0; i < frontier.Length; i++)
        {
            int node = frontier[i], parent = parents[node];
            rows[i] = -1;
            if (n == room || (parent >= 0 && _fedOf[parent] < 0)) continue;
            int parentRow = parent < 0 ? -1 : _fedOf[parent];
            _fedOf[node] = first + n;
            _regionParents[first + n] = parentRow;
            _sources[n] = parentRow + 1;
            _tokens[n] = tree.Tokens[node];
            _positions[n] = _length - 1 + tree.Depths[node];
            rows[i] = n++;
        }
        if (n == 0) return ReadOnlySpan<float>.Empty;
        _fed = first + n;

        // g of each new node: its parent's output (the root's or an earlier level's), then one step over the level only.
        _head.GatherRows(_outputs, _sources.AsSpan(0, n), s.G);
        _head.Step(s, n, _tokens.AsSpan(0, n), _positions.AsSpan(0, n), _sharedLength, _sharedLength + first, _regionParents.AsSpan(0, _fed));
        _b.CopyRows(_head.FeedBackSource(s), 0, _outputs, first + 1, n);
        ReadOnlySpan<float> logits = _head.ReadLogits(s, n);
        int vd = _head.DraftVocabSize, v = _head.TargetVocabSize;
        for (int row = 0; row < n; row++) Map(logits.Slice(row * vd, vd), _mapped.AsSpan(row * v, v));
        return _mapped.AsSpan(0, n * v);
    }

    private void Map(ReadOnlySpan<float> draft, Span<float> target)
    {
        ReadOnlySpan<int> d2t = _head.DraftToTarget;
        for (int d = 0; d < draft.Length; d++) target[d2t[d]] = draft[d];
    }

    public void Dispose() => _outputs.Dispose();
}
