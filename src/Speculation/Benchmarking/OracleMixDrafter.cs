using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>
/// A drafter for benchmarks at a chosen acceptance rate α: it runs a real draft model (so the draft cost
/// is real), then replaces each proposed token, independently with probability α, by the target's own
/// next greedy token taken from a reference run. Random-weight models never agree by chance, so the
/// per-token acceptance rate is α and greedy output still equals the reference.
/// </summary>
public sealed class OracleMixDrafter : IFeatureDrafter
{
    private readonly IDrafter _inner;
    private readonly int[] _reference; // prompt followed by the target's greedy continuation
    private readonly double _alpha;
    private readonly RandomStream _random;

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
        int m = sequence.Length;
        for (int i = 0; i < tree.Count; i++)
        {
            int position = m + tree.Depths[i] - 1;
            if (position >= _reference.Length) continue;
            int truth = _reference[position];
            if (_random.NextFloat() < _alpha) tree.SetToken(i, truth);
            else if (tree.Tokens[i] == truth) tree.SetToken(i, (truth + 1) % VocabSize); // a miss must miss
        }
    }

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();
}
