using SpecCore.Kernels;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Scores tree nodes for the shared <see cref="TreeBuilder"/> with an EAGLE head (EAGLE-2 dynamic trees, static and
/// Sequoia shapes). Each level runs every node expanded so far as one head batch after the committed slots and the
/// root, so that a node attends to exactly its ancestors (the head's mask is prefix + in-batch parents; the earlier rows
/// recompute the same keys). A node's g is its parent's output (the root's, or the parent's row of the previous
/// level). Draft-vocabulary logits are handed back over the target vocabulary through d2t, −∞ elsewhere.
/// </summary>
internal sealed class EagleTreeExpander : ITreeExpander, IDisposable
{
    private readonly Eagle3Head _head;
    private readonly IBackend _b;
    private readonly int _rows;                 // most expanded nodes per round
    private readonly DeviceTensor _nodeG;       // [rows, H] g of each expanded node
    private readonly DeviceTensor _rootG;       // [1, H] g the root's children take
    private readonly int[] _rowOf = new int[TreeBuilder.PoolCapacity]; // batch row of an expanded builder node, else -1
    private readonly int[] _nodeOf;             // [rows] builder node of each batch row
    private readonly int[] _tokens, _positions, _parents;
    private readonly float[] _mapped;           // [rows, V] scores over the target vocabulary
    private readonly float[] _root;             // [V]
    private Eagle3State? _s;
    private int _rootSlot, _length, _expanded;

    public EagleTreeExpander(Eagle3Head head, int rows)
    {
        _head = head;
        _b = head.Backend;
        _rows = rows;
        _nodeG = _b.Allocate(DType.F32, rows, head.Config.HiddenSize);
        _rootG = _b.Allocate(DType.F32, 1, head.Config.HiddenSize);
        _nodeOf = new int[rows];
        _tokens = new int[rows];
        _positions = new int[rows];
        _parents = new int[rows];
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
        (_s, _rootSlot, _length, _expanded) = (s, rootSlot, length, 0);
        Array.Fill(_rowOf, -1);
        _b.CopyRows(_head.FeedBackSource(s), 0, _rootG, 0, 1);
        Map(_head.ReadLogits(s, 1), _root);
        return _root;
    }

    /// <inheritdoc />
    public ReadOnlySpan<float> Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows)
    {
        Eagle3State s = _s ?? throw new InvalidOperationException("Begin starts a round");
        int maxRows = Math.Min(_rows, s.MaxBatch);
        DeviceTensor source = _head.FeedBackSource(s);
        ReadOnlySpan<int> parents = tree.Parents;
        int before = _expanded;
        for (int i = 0; i < frontier.Length; i++)
        {
            int node = frontier[i], parent = parents[node];
            rows[i] = -1;
            if (_expanded == maxRows || _rootSlot + 1 + _expanded >= s.Cache.Capacity || (parent >= 0 && _rowOf[parent] < 0)) continue;
            int row = _expanded++;
            _rowOf[node] = row;
            _nodeOf[row] = node;
            // g of the new node: its parent's output, from the root or from the previous level's batch.
            if (parent < 0) _b.CopyRows(_rootG, 0, _nodeG, row, 1);
            else _b.CopyRows(source, _rowOf[parent], _nodeG, row, 1);
        }
        if (_expanded == before) return ReadOnlySpan<float>.Empty;
        for (int row = 0; row < _expanded; row++)
        {
            int node = _nodeOf[row];
            _tokens[row] = tree.Tokens[node];
            _positions[row] = _length - 1 + tree.Depths[node];
            _parents[row] = parents[node] < 0 ? -1 : _rowOf[parents[node]];
        }
        _b.CopyRows(_nodeG, 0, s.G, 0, _expanded);
        _head.Step(s, _expanded, _tokens.AsSpan(0, _expanded), _positions.AsSpan(0, _expanded), _rootSlot + 1, _parents.AsSpan(0, _expanded));
        ReadOnlySpan<float> logits = _head.ReadLogits(s, _expanded);
        int vd = _head.DraftVocabSize, v = _head.TargetVocabSize;
        for (int i = 0; i < frontier.Length; i++)
        {
            int row = _rowOf[frontier[i]];
            if (row < before) continue; // not expanded this level
            Map(logits.Slice(row * vd, vd), _mapped.AsSpan(row * v, v));
            rows[i] = row;
        }
        return _mapped.AsSpan(0, _expanded * v);
    }

    private void Map(ReadOnlySpan<float> draft, Span<float> target)
    {
        ReadOnlySpan<int> d2t = _head.DraftToTarget;
        for (int d = 0; d < draft.Length; d++) target[d2t[d]] = draft[d];
    }

    public void Dispose()
    {
        _nodeG.Dispose();
        _rootG.Dispose();
    }
}
