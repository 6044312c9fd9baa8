namespace SpecCore.Kernels;

/// <summary>Describes which cached keys each new token of a batch may attend to.</summary>
/// <remarks>
/// The new tokens of a forward call occupy cache slots <c>PrefixLength + i</c>. Every new token sees
/// all <see cref="PrefixLength"/> committed slots plus itself and its ancestors inside the batch,
/// given by <see cref="Parents"/> (<c>-1</c>: the token hangs directly off the prefix). A causal chain
/// is <c>Parents[i] = i - 1</c>; a token tree is any parent array in topological order
/// (<c>Parents[i] &lt; i</c>). No dense mask is ever built: kernels walk the parent chain.
/// </remarks>
public readonly ref struct AttentionBatch
{
    /// <summary>Creates a batch description.</summary>
    public AttentionBatch(int prefixLength, ReadOnlySpan<int> parents)
    {
        PrefixLength = prefixLength;
        Parents = parents;
    }

    /// <summary>Committed tokens in the cache before this batch.</summary>
    public int PrefixLength { get; }

    /// <summary>Parent of each new token within the batch, or -1 ([tokens]).</summary>
    public ReadOnlySpan<int> Parents { get; }

    /// <summary>Number of new tokens.</summary>
    public int Count => Parents.Length;
}
