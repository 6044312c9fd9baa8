using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>
/// A drafter for benchmarks at a chosen acceptance rate α: it runs a real draft model (so the draft cost
/// is real), then decides for each parent in the proposed tree which of its children, if any, is the target's
/// own next greedy token (taken from a reference run) and writes that token there; every other child is made to
/// miss. Random-weight models never agree by chance, so greedy output still equals the reference.
/// </summary>
/// <remarks>
/// The target's token is one token, so at most one sibling can carry it, and a real draft's lower-ranked candidates
/// are rarely it: the first child (the draft's top candidate) is the hit with probability α; otherwise a lower rank
/// is, with the shares the shared pair stories2M ← stories260K measured (profiles/stories2M__stories260K.json: given
/// the top candidate missed, rank 1 was the target's token 57 % of the time, rank 2 18 %, ...). A chain's per-token
/// acceptance is α; a tree's extra siblings add what such a draft's alternatives add, not another independent α each.
/// </remarks>
public sealed class OracleMixDrafter : IFeatureDrafter
{
    /// <summary>P(rank r + 1 is the target's token | rank 0 is not), from the measured profile; the rest: none is.</summary>
    private static readonly double[] LowerRankShares = { 0.575, 0.181, 0.055, 0.047, 0.039, 0.0, 0.008 };

    private readonly IDrafter _inner;
    private readonly int[] _reference; // prompt followed by the target's greedy continuation
    private readonly double _alpha;
    private readonly RandomStream _random;
    private int[] _hitRank = new int[TreeSpec.MaxNodes + 2];   // [parent + 1] rank of the child that is the target's token, -1: none, -2: not drawn
    private int[] _childCount = new int[TreeSpec.MaxNodes + 2]; // [parent + 1] children seen so far

    /// <summary>Wraps <paramref name="inner"/>; <paramref name="referenceSequence"/> is the prompt plus the target's greedy output.</summary>
    public OracleMixDrafter(IDrafter inner, int[] referenceSequence, double alpha, ulong seed = 7)
    {
        if (alpha is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(alpha), "acceptance must be in [0, 1]");
        _inner = inner;
        _reference = referenceSequence;
        _alpha = alpha;
        _random = new RandomStream(seed);
    }

    /// <inheritdoc />
    public string Name => $"{_inner.Name}@α={_alpha:0.##}";
    /// <inheritdoc />
    public int VocabSize => _inner.VocabSize;
    /// <inheritdoc />
    public int? MaxSequenceLength => _inner.MaxSequenceLength;

    /// <inheritdoc />
    public void Reset() => _inner.Reset();

    /// <summary>The wrapped drafter's feature request (a head drafter keeps reading the target's hidden states).</summary>
    public TargetFeatureRequest? FeatureRequest => (_inner as IFeatureDrafter)?.FeatureRequest;

    /// <inheritdoc />
    public void OnTargetPass(in TargetPass pass) => (_inner as IFeatureDrafter)?.OnTargetPass(pass);

    /// <inheritdoc />
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        _inner.Propose(sequence, request, tree);
        if (_hitRank.Length < tree.Count + 1)
        {
            _hitRank = new int[tree.Count + 1];
            _childCount = new int[tree.Count + 1];
        }
        Array.Fill(_hitRank, -2, 0, tree.Count + 1);
        Array.Clear(_childCount, 0, tree.Count + 1);
        int m = sequence.Length;
        for (int i = 0; i < tree.Count; i++)
        {
            int slot = tree.Parents[i] + 1;
            int rank = _childCount[slot]++;
            int position = m + tree.Depths[i] - 1;
            if (position >= _reference.Length) continue;
            if (_hitRank[slot] == -2) _hitRank[slot] = DrawHitRank();
            int truth = _reference[position];
            if (rank == _hitRank[slot]) tree.SetToken(i, truth);
            else if (tree.Tokens[i] == truth) tree.SetToken(i, (truth + 1) % VocabSize); // a miss must miss
        }
    }

    /// <summary>Which child of a parent is the target's token: 0 with probability α, else a lower rank by the measured
    /// shares, or -1 (none).</summary>
    private int DrawHitRank()
    {
        if (_random.NextFloat() < _alpha) return 0;
        double u = _random.NextFloat(), cumulative = 0;
        for (int r = 0; r < LowerRankShares.Length; r++)
        {
            cumulative += LowerRankShares[r];
            if (u < cumulative) return r + 1;
        }
        return -1;
    }

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();
}
