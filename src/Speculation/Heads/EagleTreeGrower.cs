using System.Numerics.Tensors;
using SpecCore.Kernels;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Grows an EAGLE head's draft tree level by level after the root step: EAGLE-2's dynamic tree (expand the top-k
/// nodes of the newest level by path log-probability, top-k children each, keep the best N of all candidates) or a
/// fixed <see cref="TreeShape"/> (static and Sequoia trees: node i is the rank-th best child of its parent). Each
/// level runs every expanded node so far as one head batch after the committed slots and the root, so that a node
/// attends to exactly its ancestors (the head's mask is prefix + in-batch parents); the earlier rows recompute the
/// same keys. Nodes are proposed deterministically (q one-hot), which keeps sampling lossless.
/// </summary>
/// <remarks>Private growth until the shared tree builder lands in src/Speculation/Trees; then the candidate
/// scores found here feed it instead.</remarks>
internal sealed class EagleTreeGrower : IDisposable
{
    private const int Pool = 1024;                     // candidates per round
    private readonly int[] _token = new int[Pool];     // target id
    private readonly int[] _parent = new int[Pool];    // pool index, -1: the root
    private readonly int[] _depth = new int[Pool];
    private readonly double[] _logp = new double[Pool]; // path log-probability
    private readonly float[] _prob = new float[Pool];
    private readonly int[] _expanded = new int[Pool];  // batch row once expanded, else -1
    private readonly int[] _treeIndex = new int[Pool];
    private readonly int[] _order = new int[Pool];
    private readonly double[] _keys = new double[Pool];
    private readonly int[] _frontier = new int[Pool];
    private readonly int[] _tokens, _positions, _parents, _batchNode;
    private readonly int[] _topIds = new int[TreeSpec.MaxNodes + 1];
    private readonly float[] _topValues = new float[TreeSpec.MaxNodes + 1];
    private readonly float[] _work;                    // [Vd]
    private readonly Eagle3Head _head;
    private readonly IBackend _b;
    private readonly DeviceTensor _nodeG;              // [rows, H] g of each expanded node
    private readonly DeviceTensor _rootG;              // [1, H] g the root's children take
    private int _count;

    public EagleTreeGrower(Eagle3Head head, int rows)
    {
        _head = head;
        _b = head.Backend;
        _work = new float[head.DraftVocabSize];
        _nodeG = _b.Allocate(DType.F32, rows, head.Config.HiddenSize);
        _rootG = _b.Allocate(DType.F32, 1, head.Config.HiddenSize);
        _tokens = new int[rows];
        _positions = new int[rows];
        _parents = new int[rows];
        _batchNode = new int[rows];
    }

    /// <summary>Grows a tree off the root step just run (its logits in row 0) whose slot is <paramref name="rootSlot"/>;
    /// the pending token sits at rotary position <paramref name="length"/> − 1.</summary>
    public void Grow(Eagle3State s, int rootSlot, int length, TreeSpec spec, int maxDepth, int maxNodes, DraftTree tree)
    {
        maxNodes = Math.Min(maxNodes, tree.Capacity);
        TreeShape? shape = spec.Shape?.Truncate(Math.Min(maxNodes, spec.Shape.Count));
        int topK = Math.Clamp(spec.TopK, 1, TreeSpec.MaxNodes);
        _count = 0;
        if (shape != null)
            for (int i = 0; i < shape.Count; i++) (_depth[i], _expanded[i]) = (0, -1);
        int maxRows = Math.Min(_tokens.Length, s.MaxBatch);
        DeviceTensor source = _head.FeedBackSource(s);
        _b.CopyRows(source, 0, _rootG, 0, 1);
        AddChildren(shape, -1, _head.ReadLogits(s, 1), shape?.RootChildren ?? topK, depth: 1);

        int expanded = 0;
        for (int d = 1; d < maxDepth; d++)
        {
            int f = Frontier(shape, d, topK, maxRows - expanded);
            if (f == 0) break;
            // g of each newly expanded node: its parent's output, from the root or from the previous level's batch.
            for (int i = 0; i < f; i++)
            {
                int node = _frontier[i], row = expanded + i, parent = _parent[node];
                _expanded[node] = row;
                _batchNode[row] = node;
                if (parent < 0) _b.CopyRows(_rootG, 0, _nodeG, row, 1);
                else _b.CopyRows(source, _expanded[parent], _nodeG, row, 1);
            }
            expanded += f;
            for (int row = 0; row < expanded; row++)
            {
                int node = _batchNode[row];
                _tokens[row] = _token[node];
                _positions[row] = length - 1 + _depth[node];
                _parents[row] = _parent[node] < 0 ? -1 : _expanded[_parent[node]];
            }
            _b.CopyRows(_nodeG, 0, s.G, 0, expanded);
            _head.Step(s, expanded, _tokens.AsSpan(0, expanded), _positions.AsSpan(0, expanded), rootSlot + 1, _parents.AsSpan(0, expanded));
            ReadOnlySpan<float> logits = _head.ReadLogits(s, expanded);
            int vd = _head.DraftVocabSize;
            for (int i = 0; i < f; i++)
            {
                int node = _frontier[i];
                int row = _expanded[node];
                AddChildren(shape, node, logits.Slice(row * vd, vd), shape != null ? shape.ChildCounts[node] : topK, d + 1);
            }
        }
        Emit(shape, maxNodes, maxDepth, tree);
    }

    /// <summary>The nodes of depth <paramref name="depth"/> to expand into _frontier: a shape's nodes that have
    /// children, or the top-k candidates of the level by path log-probability.</summary>
    private int Frontier(TreeShape? shape, int depth, int topK, int room)
    {
        int f = 0;
        for (int i = 0; i < _count; i++)
        {
            if (_depth[i] != depth) continue;
            if (shape != null && shape.ChildCounts[i] == 0) continue;
            _frontier[f] = i;
            _keys[f] = -_logp[i];
            f++;
        }
        if (shape == null && f > topK)
        {
            Array.Sort(_keys, _frontier, 0, f);
            f = topK;
        }
        return Math.Min(f, room);
    }

    /// <summary>Adds the best <paramref name="count"/> draft tokens of <paramref name="logits"/> (a shape: the ones
    /// its nodes under <paramref name="parent"/> rank) as candidates.</summary>
    private void AddChildren(TreeShape? shape, int parent, ReadOnlySpan<float> logits, int count, int depth)
    {
        if (count <= 0) return;
        count = Math.Min(count, _topIds.Length);
        int found = TopK(logits, count);
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, _work);
        TensorPrimitives.Exp(_work, _work);
        double logSum = Math.Log(TensorPrimitives.Sum(_work)) + max;
        double above = parent < 0 ? 0 : _logp[parent];
        ReadOnlySpan<int> d2t = _head.DraftToTarget;
        if (shape != null)
        {
            // Shape nodes keep their own indices: node i's candidate sits at pool index i.
            for (int i = 0; i < shape.Count; i++)
            {
                if (shape.Parents[i] != parent || shape.Ranks[i] >= found) continue;
                Set(i, d2t[_topIds[shape.Ranks[i]]], parent, depth, above + _topValues[shape.Ranks[i]] - logSum);
                _count = Math.Max(_count, i + 1);
            }
            return;
        }
        for (int r = 0; r < found && _count < Pool; r++) Set(_count++, d2t[_topIds[r]], parent, depth, above + _topValues[r] - logSum);
    }

    private void Set(int i, int token, int parent, int depth, double logp)
    {
        _token[i] = token;
        _parent[i] = parent;
        _depth[i] = depth;
        _logp[i] = logp;
        _prob[i] = (float)Math.Exp(logp - (parent < 0 ? 0 : _logp[parent]));
        _expanded[i] = -1;
    }

    /// <summary>Indices of the <paramref name="count"/> largest logits (ties: lowest id) into _topIds/_topValues, best first.</summary>
    private int TopK(ReadOnlySpan<float> logits, int count)
    {
        int n = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float v = logits[id];
            if (n == count && !(v > _topValues[n - 1])) continue;
            int at = n == count ? n - 1 : n++;
            while (at > 0 && v > _topValues[at - 1])
            {
                _topValues[at] = _topValues[at - 1];
                _topIds[at] = _topIds[at - 1];
                at--;
            }
            _topValues[at] = v;
            _topIds[at] = id;
        }
        return n;
    }

    /// <summary>Puts the chosen candidates into <paramref name="tree"/> in pool order (parents first): a shape's nodes
    /// that were reached, or the best <paramref name="maxNodes"/> by path log-probability whose parents are in.</summary>
    private void Emit(TreeShape? shape, int maxNodes, int maxDepth, DraftTree tree)
    {
        int chosen = 0;
        for (int i = 0; i < _count; i++) _treeIndex[i] = -1;
        if (shape == null)
        {
            for (int i = 0; i < _count; i++)
            {
                _order[i] = i;
                _keys[i] = -_logp[i];
            }
            Array.Sort(_keys, _order, 0, _count);
            for (int j = 0; j < _count && chosen < maxNodes; j++)
            {
                int i = _order[j];
                if (_depth[i] > maxDepth || (_parent[i] >= 0 && _treeIndex[_parent[i]] != -2)) continue;
                _treeIndex[i] = -2; // chosen; tree index assigned below in pool order
                chosen++;
            }
        }
        for (int i = 0; i < _count; i++)
        {
            bool take = shape == null ? _treeIndex[i] == -2 : _depth[i] > 0 && _depth[i] <= maxDepth && Reached(i);
            if (!take) continue;
            int parent = _parent[i] < 0 ? -1 : _treeIndex[_parent[i]];
            if (_parent[i] >= 0 && parent < 0) continue;
            _treeIndex[i] = tree.Add(_token[i], parent, _prob[i]);
            if (tree.IsFull) break;
        }
    }

    /// <summary>A shape node whose token was found (its parent was expanded).</summary>
    private bool Reached(int i) => _parent[i] < 0 || _expanded[_parent[i]] >= 0;

    public void Dispose()
    {
        _nodeG.Dispose();
        _rootG.Dispose();
    }
}
