namespace SpecCore.Speculation.Verification;

/// <summary>Outcome of verifying one draft tree.</summary>
/// <remarks>
/// Words as in vLLM's rejection sampler: <b>accepted</b> tokens are draft tokens the target keeps;
/// after the last accepted node either a draft child was rejected and the next token is
/// <b>recovered</b> (drawn from the target's residual distribution), or there was nothing left to try and
/// the next token is a <b>bonus</b> token drawn from the target as is. Either way one target token
/// follows the accepted path, so a round always makes progress.
/// </remarks>
public sealed class VerificationResult
{
    private readonly int[] _acceptedNodes;

    /// <summary>Creates a result able to hold <paramref name="maxNodes"/> accepted nodes.</summary>
    public VerificationResult(int maxNodes) => _acceptedNodes = new int[maxNodes];

    /// <summary>Tree node indices on the accepted path, root side first.</summary>
    public ReadOnlySpan<int> AcceptedNodes => _acceptedNodes.AsSpan(0, AcceptedCount);

    /// <summary>Number of accepted draft tokens.</summary>
    public int AcceptedCount { get; private set; }

    /// <summary>The target's token after the accepted path (recovered or bonus).</summary>
    public int NextToken { get; internal set; }

    /// <summary>True if <see cref="NextToken"/> is a bonus token (no draft child was rejected at the end).</summary>
    public bool IsBonus { get; internal set; }

    /// <summary>True if a draft distribution was invalid (not finite or not a distribution): its tokens were
    /// rejected without a test and the next token drawn from the target, so the output is still the target's.</summary>
    public bool InvalidDraft { get; internal set; }

    internal void Clear()
    {
        InvalidDraft = false;
        AcceptedCount = 0;
        NextToken = -1;
        IsBonus = false;
    }

    internal void Accept(int node) => _acceptedNodes[AcceptedCount++] = node;
}
