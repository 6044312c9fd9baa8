namespace SpecCore.Speculation.Trees;

/// <summary>
/// What a tree-drafting drafter gives <see cref="TreeBuilder"/>: the next-token scores of the nodes it is asked to
/// expand. The builder decides which nodes to expand and which children to keep; the expander only scores.
/// </summary>
/// <remarks>
/// <para>A draft model or an EAGLE head runs one batched forward per depth over the frontier (each node's tokens and
/// parents are in <see cref="TreeBuilder.Tokens"/>, <see cref="TreeBuilder.Parents"/> and <see cref="TreeBuilder.Depths"/>)
/// and returns one row per frontier node.</para>
/// <para>A drafter whose scores do not depend on the parent (Medusa: head d scores depth d + 1 from the last target
/// hidden state alone) is position-independent: it returns one row for the whole depth and writes the same row index
/// for every frontier node. Rows may be shared by any number of frontier nodes.</para>
/// <para>Scores are logits unless the builder was created with <see cref="TreeScores.Probabilities"/>; either way
/// over the target vocabulary (a drafter with a reduced draft vocabulary maps its scores back first).</para>
/// </remarks>
public interface ITreeExpander
{
    /// <summary>
    /// Scores the children of <paramref name="frontier"/> (builder node indices in ascending order, i.e. parents before
    /// children; every strict ancestor of a frontier node was in an earlier frontier or is a child of the root). Writes for each
    /// frontier node the row of its scores in the returned span ([rows, vocab]) into <paramref name="rows"/>, or -1 for a
    /// node that could not be scored (it did not fit the drafter's batch or context; it stays a leaf). The span stays
    /// valid until the next call on this expander.
    /// </summary>
    ReadOnlySpan<float> Expand(TreeBuilder tree, ReadOnlySpan<int> frontier, Span<int> rows);
}

/// <summary>What the rows an <see cref="ITreeExpander"/> returns hold.</summary>
public enum TreeScores
{
    /// <summary>Unnormalised logits (a model's LM head output).</summary>
    Logits,
    /// <summary>Probabilities (non-negative; normalised by the builder).</summary>
    Probabilities,
}
