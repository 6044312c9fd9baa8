namespace SpecCore.Speculation.Trees;

/// <summary>
/// Replaces a draft's next-token scores before the tree builder reads them. Benchmarks use it to simulate a draft of a
/// chosen acceptance rate whose confidence means what a real draft's does (<see cref="Benchmarking.OracleMixDrafter"/>);
/// inference never sets one.
/// </summary>
public interface IDraftScoreRewriter
{
    /// <summary>
    /// Rewrites in place the logits <paramref name="scores"/> ([vocab]) of the children of the node reached by
    /// <paramref name="path"/>: the drafted tokens from the pending token down to that node (empty: the children of the
    /// pending token itself).
    /// </summary>
    void Rewrite(ReadOnlySpan<int> path, Span<float> scores);
}
