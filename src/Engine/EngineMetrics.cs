namespace SpecCore.Engine;

/// <summary>Running totals of an engine's requests, for <c>/metrics</c> and logs. Updated once per request; safe to read
/// from any thread.</summary>
public sealed class EngineMetrics
{
    private long _requests, _failed, _promptTokens, _cachedTokens, _completionTokens, _drafted, _accepted, _tried, _rounds, _draftLengthSum;
    private long _decodeTicks;

    /// <summary>Requests finished.</summary>
    public long Requests => Interlocked.Read(ref _requests);
    /// <summary>Requests that ended in an error.</summary>
    public long FailedRequests => Interlocked.Read(ref _failed);
    /// <summary>Prompt tokens of all requests.</summary>
    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    /// <summary>Prompt tokens served from session caches.</summary>
    public long CachedPromptTokens => Interlocked.Read(ref _cachedTokens);
    /// <summary>Tokens generated.</summary>
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);
    /// <summary>Draft tokens proposed.</summary>
    public long DraftedTokens => Interlocked.Read(ref _drafted);
    /// <summary>Draft tokens accepted.</summary>
    public long AcceptedTokens => Interlocked.Read(ref _accepted);
    /// <summary>Speculative rounds.</summary>
    public long Rounds => Interlocked.Read(ref _rounds);
    /// <summary>Accepted ÷ tried draft positions over all requests (0 without speculation).</summary>
    public double AcceptanceRate { get { long t = Interlocked.Read(ref _tried); return t > 0 ? (double)AcceptedTokens / t : 0; } }
    /// <summary>Mean draft length per speculative round.</summary>
    public double MeanDraftLength { get { long r = Rounds; return r > 0 ? (double)Interlocked.Read(ref _draftLengthSum) / r : 0; } }
    /// <summary>Generated tokens ÷ seconds spent decoding, over all requests.</summary>
    public double DecodeTokensPerSecond
    {
        get
        {
            double seconds = Interlocked.Read(ref _decodeTicks) / (double)TimeSpan.TicksPerSecond;
            return seconds > 0 ? CompletionTokens / seconds : 0;
        }
    }

    internal void Record(CompletionResult result)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _promptTokens, result.Usage.PromptTokens);
        Interlocked.Add(ref _cachedTokens, result.Usage.CachedPromptTokens);
        Interlocked.Add(ref _completionTokens, result.Usage.CompletionTokens);
        var s = result.Stats;
        if (s.Drafter != null)
        {
            Interlocked.Add(ref _drafted, s.DraftedTokens);
            Interlocked.Add(ref _accepted, s.AcceptedTokens);
            Interlocked.Add(ref _tried, s.TriedPositions);
            Interlocked.Add(ref _rounds, s.Rounds);
            Interlocked.Add(ref _draftLengthSum, s.DraftLengthSum);
        }
        Interlocked.Add(ref _decodeTicks, (long)((s.PrefillSeconds + s.DecodeSeconds) * TimeSpan.TicksPerSecond));
    }

    internal void RecordFailure()
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Increment(ref _failed);
    }
}
