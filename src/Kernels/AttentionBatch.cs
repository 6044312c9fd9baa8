namespace SpecCore.Kernels;

/// <summary>Describes which cached keys each new token of a batch may attend to.</summary>
/// <remarks>
/// <para>The new tokens of a forward call occupy cache slots <c>PrefixLength + i</c>. The cache rows before them are
/// the <see cref="SharedLength"/> rows every new token sees (the sequence), then rows of an earlier batch's token tree
/// (<see cref="CachedTreeRows"/> of them, zero for an ordinary batch). Together with the new tokens those rows form
/// the tree region: region row r is cache slot <c>SharedLength + r</c>, the new token i is region row
/// <c>CachedTreeRows + i</c>, and <see cref="Parents"/> gives every region row's parent region row (<c>-1</c>: it
/// hangs directly off the shared rows). A token sees the shared rows plus itself and its ancestors in the region, so a
/// tree can be drafted level by level, each level's batch pointing at parents an earlier level left in the cache.</para>
/// <para>A causal chain is <c>Parents[i] = i - 1</c>; a token tree is any parent array in topological order
/// (<c>Parents[r] &lt; r</c>). No dense mask is ever built: kernels walk the parent chain.
/// With a sliding <see cref="Window"/> W, a token at position P (SharedLength + its depth in the region − 1) sees only
/// keys at positions j with P − j &lt; W: shared slot t is at position t, and a region ancestor at SharedLength + its
/// depth − 1.</para>
/// </remarks>
public readonly ref struct AttentionBatch
{
    /// <summary>Creates a batch after <paramref name="prefixLength"/> committed rows, all of which every token sees;
    /// <paramref name="parents"/> gives each new token's parent within the batch, or -1.</summary>
    public AttentionBatch(int prefixLength, ReadOnlySpan<int> parents, int window = 0)
        : this(prefixLength, prefixLength, parents, window)
    {
    }

    /// <summary>Creates a batch whose tree continues tree rows already in the cache: rows [0, <paramref name="sharedLength"/>)
    /// are seen by every token, rows [<paramref name="sharedLength"/>, <paramref name="prefixLength"/>) are earlier tree
    /// rows seen only by their descendants, and <paramref name="parents"/> ([tree region rows]) gives the parent of every
    /// region row, the cached tree rows' first and then one per new token.</summary>
    public AttentionBatch(int sharedLength, int prefixLength, ReadOnlySpan<int> parents, int window = 0)
    {
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "window must be 0 (none) or positive");
        if (sharedLength < 0 || sharedLength > prefixLength) throw new ArgumentOutOfRangeException(nameof(sharedLength), sharedLength, $"shared rows must be between 0 and the prefix length {prefixLength}");
        if (parents.Length < prefixLength - sharedLength) throw new ArgumentException($"{prefixLength - sharedLength} cached tree rows need their parents; got {parents.Length} entries", nameof(parents));
        SharedLength = sharedLength;
        PrefixLength = prefixLength;
        Parents = parents;
        Window = window;
    }

    /// <summary>Sliding-window width (keys within Window − 1 positions before the token and itself); 0: no window.</summary>
    public int Window { get; }

    /// <summary>First shared slot visible to a token at <paramref name="position"/>: 0 without a window.</summary>
    public int FirstVisible(int position) => Window > 0 ? Math.Max(0, position - Window + 1) : 0;

    /// <summary>Rows in the cache before this batch (shared rows and cached tree rows).</summary>
    public int PrefixLength { get; }

    /// <summary>Rows every new token sees (the committed sequence); equal to <see cref="PrefixLength"/> for an ordinary batch.</summary>
    public int SharedLength { get; }

    /// <summary>Rows of earlier tree nodes between the shared rows and the batch.</summary>
    public int CachedTreeRows => PrefixLength - SharedLength;

    /// <summary>Parent region row of each tree region row (cached tree rows, then the new tokens), or -1 ([region rows]).</summary>
    public ReadOnlySpan<int> Parents { get; }

    /// <summary>Number of new tokens.</summary>
    public int Count => Parents.Length - CachedTreeRows;
}
