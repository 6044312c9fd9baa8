using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Drafters;

/// <summary>What a drafter is asked for in one round.</summary>
/// <param name="MaxDepth">Longest path (the draft length k for a chain).</param>
/// <param name="MaxNodes">Node budget of the tree (k for a chain).</param>
/// <param name="Tree">The tree setting when drafting trees (null: a chain of MaxDepth tokens, or whatever
/// tree the drafter grows within MaxNodes).</param>
public readonly record struct DraftRequest(int MaxDepth, int MaxNodes, TreeSpec? Tree = null);

/// <summary>
/// A proposer of draft tokens: given the sequence so far it proposes a <see cref="DraftTree"/> of
/// likely continuations of the pending token, for the target to verify in one pass.
/// </summary>
public interface IDrafter : IDisposable
{
    /// <summary>Short name for statistics ("draft:stories260K", "lookup").</summary>
    string Name { get; }

    /// <summary>Vocabulary size the drafter proposes from; must equal the target's.</summary>
    int VocabSize { get; }

    /// <summary>Longest sequence the drafter can follow (its context), or null if unlimited.</summary>
    int? MaxSequenceLength { get; }

    /// <summary>Starts a new sequence.</summary>
    void Reset();

    /// <summary>Samples drafts with the target's <paramref name="options"/> from now on (a fresh random stream of the
    /// drafter's own); called at the start of every generation. Drafters that do not sample ignore it.</summary>
    void UseSampling(SamplingOptions options) { }

    /// <summary>Fills <paramref name="tree"/> (already cleared) with proposals. <paramref name="sequence"/> is every
    /// token so far, prompt included; its last entry is the pending token the tree hangs off. The drafter
    /// keeps whatever state it needs in step with the sequence by itself (the sequence only ever grows by
    /// tokens it proposed or by tokens the target chose).</summary>
    void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree);
}
