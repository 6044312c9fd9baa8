using SpecCore.Models;

namespace SpecCore.Speculation.Drafters;

/// <summary>What one target pass tells a feature-reading drafter: the pass's hidden states and which of its
/// rows the sequence kept. Kept row i (batch row <c>KeptRows[i]</c>, token <c>Tokens[KeptRows[i]]</c>) is now
/// at sequence position <c>StartPosition + i</c>; the other rows were rejected drafts.</summary>
public readonly ref struct TargetPass
{
    /// <summary>Describes a pass.</summary>
    public TargetPass(TargetFeatures features, int startPosition, ReadOnlySpan<int> tokens, ReadOnlySpan<int> keptRows)
    {
        if (keptRows.IsEmpty) throw new ArgumentException("a pass keeps at least its first row", nameof(keptRows));
        Features = features;
        StartPosition = startPosition;
        Tokens = tokens;
        KeptRows = keptRows;
    }

    /// <summary>The hidden states of every row of the pass (on the target's backend).</summary>
    public TargetFeatures Features { get; }

    /// <summary>Sequence position of the pass's first row (the target's cache length before the pass).</summary>
    public int StartPosition { get; }

    /// <summary>The pass's tokens, one per row.</summary>
    public ReadOnlySpan<int> Tokens { get; }

    /// <summary>Rows the sequence kept, ascending (a prefill chunk keeps all; verification the pending token and the accepted path).</summary>
    public ReadOnlySpan<int> KeptRows { get; }
}

/// <summary>
/// A drafter that reads the target's hidden states (EAGLE, Medusa heads). The generator creates the target's
/// state with <see cref="FeatureRequest"/> and calls <see cref="OnTargetPass"/> after every target pass (each
/// prefill chunk, each verification or plain step), before the next <see cref="IDrafter.Propose"/>. A drafter
/// must still accept a <see cref="IDrafter.Propose"/> whose sequence changed in ways no pass reported (a session
/// that rewound or replaced its tail): it keeps what matches the longest common prefix and, where it lacks the
/// features of the position it must draft from, proposes nothing for that round.
/// </summary>
public interface IFeatureDrafter : IDrafter
{
    /// <summary>The hidden states the drafter needs from each target pass; null: none (a wrapper around a drafter
    /// that reads none), and then <see cref="OnTargetPass"/> is never called.</summary>
    TargetFeatureRequest? FeatureRequest { get; }

    /// <summary>Takes the features of a target pass (read them now: the next pass overwrites them).</summary>
    void OnTargetPass(in TargetPass pass);
}
