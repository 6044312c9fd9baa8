using System.Numerics.Tensors;
using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Drafts with <see cref="MedusaHeads"/> off the target's final hidden state at the last committed position. Trees
/// follow a Medusa candidate list (<see cref="MedusaChoices.McSim7b63"/> by default; paths deeper than the number of
/// heads are cut; a <c>dynamic:N</c> setting takes its first N nodes) or a <c>static:…</c> shape; a chain takes every
/// head's best token. Each node's token is the
/// rank-th best of its depth's head, proposed deterministically (q one-hot), so the lossless verifier checks it
/// unchanged (not Medusa's typical acceptance).
/// </summary>
public sealed class MedusaDrafter : IFeatureDrafter
{
    private readonly MedusaHeads _heads;
    private readonly IBackend _b;
    private readonly DeviceTensor _hidden;     // [1, H] final hidden state of the last committed position
    private readonly int[] _known;             // [capacity + 1] tokens the hidden state was computed over
    private int _knownLength;
    private int _hiddenPosition = -1;          // position of _hidden, -1: none
    private readonly int[][] _choices;
    private readonly int _choiceRanks;         // deepest rank the choices use, plus one
    private bool _disposed;
    private readonly int[][] _top;             // [head][rank] best tokens of each head
    private readonly float[][] _topProbability; // [head][rank]
    private readonly int[] _nodeOfPath;        // tree node of each choice path
    private readonly float[] _work;            // [V]

    /// <summary>Drafts with <paramref name="heads"/> (which the drafter then owns) on sequences of up to
    /// <paramref name="capacity"/> tokens, with the candidate tree <paramref name="choices"/> (default mc_sim_7b_63).</summary>
    public MedusaDrafter(MedusaHeads heads, int capacity, string name, IReadOnlyList<int[]>? choices = null)
    {
        _heads = heads;
        _b = heads.Backend;
        _hidden = _b.Allocate(DType.F32, 1, heads.Hidden);
        _known = new int[capacity + 1];
        _choices = MedusaChoices.ForHeads(choices ?? MedusaChoices.McSim7b63, heads.HeadCount);
        _choiceRanks = _choices.Length == 0 ? 1 : _choices.Max(p => p.Max()) + 1;
        int ranks = Math.Min(Math.Max(_choiceRanks, TreeSpec.MaxNodes), heads.VocabSize); // static shapes may rank deeper
        _top = new int[heads.HeadCount][];
        _topProbability = new float[heads.HeadCount][];
        for (int i = 0; i < heads.HeadCount; i++)
        {
            _top[i] = new int[ranks];
            _topProbability[i] = new float[ranks];
        }
        _nodeOfPath = new int[_choices.Length];
        _work = new float[heads.VocabSize];
        MaxSequenceLength = capacity;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }
    /// <inheritdoc />
    public int VocabSize => _heads.VocabSize;
    /// <inheritdoc />
    public int? MaxSequenceLength { get; }
    /// <summary>The heads.</summary>
    public MedusaHeads Heads => _heads;
    /// <summary>The candidate paths in use (sorted, cut to the number of heads).</summary>
    public IReadOnlyList<int[]> Choices => _choices;
    /// <inheritdoc />
    public TargetFeatureRequest? FeatureRequest { get; } = new(Array.Empty<int>(), FinalHidden: true);

    /// <inheritdoc />
    public void Reset()
    {
        _knownLength = 0;
        _hiddenPosition = -1;
    }

    /// <inheritdoc />
    public void OnTargetPass(in TargetPass pass)
    {
        int start = pass.StartPosition, m = pass.KeptRows.Length;
        if (start + m > _known.Length - 1) throw new InvalidOperationException($"the sequence outgrew the drafter's context of {MaxSequenceLength}");
        for (int i = _knownLength; i < start; i++) _known[i] = -1;
        for (int i = 0; i < m; i++) _known[start + i] = pass.Tokens[pass.KeptRows[i]];
        _knownLength = start + m;
        _b.CopyRows(pass.Features.FinalHidden!, pass.KeptRows[m - 1], _hidden, 0, 1);
        _hiddenPosition = start + m - 1;
    }

    /// <inheritdoc />
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        int length = sequence.Length;
        // The hidden state of position t holds for the sequence only while x_0..x_t are unchanged.
        int common = 0, limit = Math.Min(length, _knownLength);
        while (common < limit && (_known[common] == sequence[common] || _known[common] < 0)) common++;
        if (common <= _hiddenPosition) _hiddenPosition = -1;
        _knownLength = Math.Min(_knownLength, common);
        if (_hiddenPosition < 0 || _hiddenPosition != length - 2) return;

        int depth = Math.Min(request.MaxDepth, _heads.HeadCount);
        int maxNodes = Math.Min(request.MaxNodes, tree.Capacity);
        if (depth <= 0 || maxNodes <= 0) return;
        ReadOnlySpan<float> logits = _heads.Forward(_hidden);
        TreeShape? shape = request.Tree is { Kind: TreeKind.Static or TreeKind.Sequoia, Shape: { } s } ? s : null;
        int ranks = shape != null ? _top[0].Length : request.Tree == null ? 1 : _choiceRanks;
        for (int i = 0; i < depth; i++) TopK(logits.Slice(i * VocabSize, VocabSize), _top[i], _topProbability[i], Math.Min(ranks, _top[i].Length));

        if (request.Tree == null)
        {
            // A chain: every head's best token.
            int parent = -1;
            for (int d = 0; d < Math.Min(depth, maxNodes); d++) parent = tree.Add(_top[d][0], parent, _topProbability[d][0]);
        }
        else if (shape != null)
        {
            for (int i = 0; i < shape.Count && !tree.IsFull; i++)
            {
                int d = shape.Depths[i] - 1;
                if (d >= depth || shape.Ranks[i] >= _top[d].Length) break;
                tree.Add(_top[d][shape.Ranks[i]], shape.Parents[i], _topProbability[d][shape.Ranks[i]]);
            }
        }
        else
        {
            // Medusa's candidate list: sorted by length, so a path's prefix is already a node.
            for (int p = 0; p < _choices.Length && !tree.IsFull && tree.Count < maxNodes; p++)
            {
                int[] path = _choices[p];
                int d = path.Length - 1;
                _nodeOfPath[p] = -1;
                if (d >= depth || path[d] >= _top[d].Length) continue; // a rank beyond a small vocabulary
                int parent = d == 0 ? -1 : NodeOf(path, p);
                if (d > 0 && parent < 0) continue;
                _nodeOfPath[p] = tree.Add(_top[d][path[d]], parent, _topProbability[d][path[d]]);
            }
        }
    }

    /// <summary>The node of <paramref name="path"/>'s prefix among the paths before <paramref name="before"/>.</summary>
    private int NodeOf(int[] path, int before)
    {
        for (int q = before - 1; q >= 0; q--)
        {
            int[] other = _choices[q];
            if (other.Length == path.Length - 1 && other.AsSpan().SequenceEqual(path.AsSpan(0, path.Length - 1))) return _nodeOfPath[q];
        }
        return -1;
    }

    /// <summary>The <paramref name="count"/> most probable tokens of a head (ties: lowest id) with their softmax probability.</summary>
    private void TopK(ReadOnlySpan<float> logits, int[] ids, float[] probabilities, int count)
    {
        TensorPrimitives.SoftMax(logits, _work);
        int n = 0;
        for (int id = 0; id < _work.Length; id++)
        {
            float v = _work[id];
            if (n == count && !(v > probabilities[n - 1])) continue;
            int at = n == count ? n - 1 : n++;
            while (at > 0 && v > probabilities[at - 1])
            {
                probabilities[at] = probabilities[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            probabilities[at] = v;
            ids[at] = id;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _hidden.Dispose();
        _heads.Dispose();
    }
}
