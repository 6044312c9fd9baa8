namespace SpecCore.Kernels;

/// <summary>Describes which cached keys each new token of a batch may attend to.</summary>
/// <remarks>
/// The new tokens of a forward call occupy cache slots <c>PrefixLength + i</c>. Every new token sees
/// all <see cref="PrefixLength"/> committed slots plus itself and its ancestors inside the batch,
/// given by <see cref="Parents"/> (<c>-1</c>: the token hangs directly off the prefix). A causal chain
/// is <c>Parents[i] = i - 1</c>; a token tree is any parent array in topological order
/// (<c>Parents[i] &lt; i</c>). No dense mask is ever built: kernels walk the parent chain.
/// With a sliding <see cref="Window"/> W, a token at position P (PrefixLength + its depth) sees only keys at
/// positions j with P − j &lt; W: committed slot t is at position t, and a batch ancestor at its own depth.
/// </remarks>
public readonly ref struct AttentionBatch
{
    /// <summary>Creates a batch description.</summary>
    public AttentionBatch(int prefixLength, ReadOnlySpan<int> parents, int window = 0)
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "window must be 0 (none) or positive");
        PrefixLength = prefixLength;
        Parents = parents;
        Window = window;
    }

    /// <summary>Sliding-window width (keys within Window − 1 positions before the token and itself); 0: no window.</summary>
    public int Window { get; }

    /// <summary>First committed slot visible to a token at <paramref name="position"/>: 0 without a window.</summary>
    public int FirstVisible(int position) => Window > 0 ? Math.Max(0, position - Window + 1) : 0;

    /// <summary>Committed tokens in the cache before this batch.</summary>
    public int PrefixLength { get; }

    /// <summary>Parent of each new token within the batch, or -1 ([tokens]).</summary>
    public ReadOnlySpan<int> Parents { get; }

    /// <summary>Number of new tokens.</summary>
    public int Count => Parents.Length;
}
