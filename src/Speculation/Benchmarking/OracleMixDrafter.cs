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
/// <para>Trees of a draft model are grown from calibrated scores (<see cref="IDraftScoreRewriter"/>): a random-weight
/// draft's flat, meaningless confidence would steer EAGLE-2's dynamic growth blindly, where a real draft's confidence
/// says where it is right. Each expanded node draws its confidence c from Beta(κα, κ(1 − α)) (mean α), its top child is
/// the target's token with probability c and a lower rank with the shares above, and the builder sees exactly those
/// probabilities. κ = 2 is what the shared pair measured: stories260K's hit rate on stories2M's greedy text, binned by the
/// draft's top-1 probability, has mean 0.83 and variance 0.046 across positions (0.28 where the draft gives its top token
/// under 0.2, 1.00 above 0.7).</para>
/// </remarks>
public sealed class OracleMixDrafter : IFeatureDrafter, IDraftScoreRewriter
{
    /// <summary>Concentration of the per-node confidence distribution (see remarks).</summary>
    private const double Concentration = 2.0;

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
        if (inner is DraftModelDrafter draft) draft.ScoreRewriter = this;
    }

    private int _sequenceLength;

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
        _sequenceLength = sequence.Length;
        _inner.Propose(sequence, request, tree);
        // A draft model's tree was grown from calibrated scores that already put the target's token where it was drawn.
        if (request.Tree is not null && _inner is DraftModelDrafter) return;
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
        return _random.NextFloat() < _alpha ? 0 : DrawLowerRank();
    }

    /// <summary>Calibrated scores for the children of <paramref name="path"/>: ranks 0..7 are the draft's top token and the
    /// ones after it in id order (never the target's token unless it was drawn there), scored by the probability that each is
    /// the target's token; every other token gets none.</summary>
    void IDraftScoreRewriter.Rewrite(ReadOnlySpan<int> path, Span<float> scores)
    {
        int position = _sequenceLength + path.Length;
        bool onTruePath = position < _reference.Length;
        for (int j = 0; onTruePath && j < path.Length; j++) onTruePath = path[j] == _reference[_sequenceLength + j];
        int truth = onTruePath ? _reference[position] : -1;
        double confidence = Beta(Concentration * _alpha, Concentration * (1 - _alpha));
        int hitRank = !onTruePath ? -1 : _random.NextFloat() < confidence ? 0 : DrawLowerRank();

        int vocab = scores.Length;
        int top = 0;
        for (int v = 1; v < vocab; v++) if (scores[v] > scores[top]) top = v;
        scores.Fill(-1e30f);
        int candidate = top;
        int ranks = Math.Min(LowerRankShares.Length + 1, vocab - 1); // the target's token stays out of the other ranks
        for (int r = 0; r < ranks; r++)
        {
            int token;
            if (r == hitRank) token = truth;
            else
            {
                while (candidate == truth || scores[candidate] > -1e30f) candidate = (candidate + 1) % vocab;
                token = candidate;
            }
            double p = r == 0 ? confidence : (1 - confidence) * LowerRankShares[r - 1];
            scores[token] = MathF.Log((float)Math.Max(p, 1e-7));
        }
    }

    /// <summary>A lower rank (1, 2, ...) by the measured shares, or -1: no candidate is the target's token.</summary>
    private int DrawLowerRank()
    {
        double u = _random.NextFloat(), cumulative = 0;
        for (int r = 0; r < LowerRankShares.Length; r++)
        {
            cumulative += LowerRankShares[r];
            if (u < cumulative) return r + 1;
        }
        return -1;
    }

    /// <summary>A Beta(a, b) draw as X / (X + Y) of two Gamma draws.</summary>
    private double Beta(double a, double b)
    {
        if (b <= 0) return 1;
        if (a <= 0) return 0;
        double x = Gamma(a), y = Gamma(b);
        return x + y > 0 ? x / (x + y) : _alpha;
    }

    /// <summary>Marsaglia and Tsang's Gamma(shape, 1) draw; a shape below 1 is boosted by U^(1/shape).</summary>
    private double Gamma(double shape)
    {
        if (shape < 1) return Gamma(shape + 1) * Math.Pow(Uniform(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                // Box-Muller normal.
                x = Math.Sqrt(-2 * Math.Log(Uniform())) * Math.Cos(2 * Math.PI * Uniform());
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = Uniform();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>A uniform draw in (0, 1).</summary>
    private double Uniform() => _random.NextFloat() + 0.5 / (1 << 24);

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();
}
