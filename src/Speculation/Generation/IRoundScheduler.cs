namespace SpecCore.Speculation.Generation;

/// <summary>
/// Hands out turns on a shared model: a generator enters before each model step (a prefill chunk, a plain decode
/// step, or a speculative round of drafting plus verification) and exits after it, so that several generators can
/// share one backend, which is not re-entrant, and take turns fairly.
/// </summary>
public interface IRoundScheduler
{
    /// <summary>Waits for this caller's turn; returns false, without a turn, when <paramref name="cancellation"/> fires first.</summary>
    bool Enter(CancellationToken cancellation);

    /// <summary>Ends the turn taken by the last successful <see cref="Enter"/>.</summary>
    void Exit();
}
