using System.Globalization;

namespace SpecCore.Speculation.Generation;

/// <summary>Why a generation stopped.</summary>
public enum StopReason
{
    /// <summary>The requested number of tokens was produced.</summary>
    MaxTokens,
    /// <summary>The model produced a stop (EOS) token.</summary>
    StopToken,
    /// <summary>The sequence reached the context length.</summary>
    ContextFull,
    /// <summary>The token sink ended the generation (a stop string appeared in the text).</summary>
    StopString,
    /// <summary>The caller cancelled the generation (<see cref="GenerationOptions.Cancellation"/>).</summary>
    Cancelled,
}

/// <summary>What happened during a generation: token counts, time per stage and speculation figures.</summary>
public sealed class GenerationStats
{
    /// <summary>Prompt tokens.</summary>
    public int PromptTokens { get; internal set; }
    /// <summary>Prompt tokens whose keys and values were already in the cache from the generator's previous call (a shared
    /// prefix, see <see cref="Generator.ReusePrefix"/>), so that only the rest of the prompt was run through the model.</summary>
    public int ReusedPromptTokens { get; internal set; }
    /// <summary>Tokens generated (stop token excluded).</summary>
    public int GeneratedTokens { get; internal set; }
    /// <summary>Seconds spent on the prompt (through the first generated token).</summary>
    public double PrefillSeconds { get; internal set; }
    /// <summary>Seconds spent after the first token.</summary>
    public double DecodeSeconds { get; internal set; }
    /// <summary>Verification rounds (speculative) or decode steps (plain).</summary>
    public int Rounds { get; internal set; }
    /// <summary>Draft tokens proposed (tree nodes for trees).</summary>
    public long DraftedTokens { get; internal set; }
    /// <summary>Tokens run through the target in speculative rounds: the pending token plus every draft node, per round.</summary>
    public long VerifiedTokens { get; internal set; }
    /// <summary>Longest accepted path in one round.</summary>
    public int MaxAcceptedPathLength { get; internal set; }
    /// <summary>The tree setting, or null for chains and plain decoding.</summary>
    public string? Tree { get; internal set; }
    /// <summary>Draft tokens the target accepted.</summary>
    public long AcceptedTokens { get; internal set; }
    /// <summary>Chain positions tried: accepted ones plus the one rejected per round, if any (the denominator of α).</summary>
    public long TriedPositions { get; internal set; }
    /// <summary>Sum of the draft length k chosen per round.</summary>
    public long DraftLengthSum { get; internal set; }
    /// <summary>Seconds in the drafter.</summary>
    public double DraftSeconds { get; internal set; }
    /// <summary>Seconds in target verification passes.</summary>
    public double VerifySeconds { get; internal set; }
    /// <summary>Why generation stopped.</summary>
    public StopReason StopReason { get; internal set; }
    /// <summary>Name of the drafter, or null for plain decoding.</summary>
    public string? Drafter { get; internal set; }
    /// <summary>Draft lengths chosen, by k (index k; index 0: plain steps chosen by the adaptive policy).</summary>
    public int[] DraftLengthHistogram { get; } = new int[65];

    /// <summary>Speculative rounds by the length of their accepted path (index = accepted draft tokens).</summary>
    public int[] AcceptedLengthHistogram { get; } = new int[65];

    /// <summary>Share of speculative rounds that accepted at least <paramref name="depth"/> draft tokens (depth ≥ 1):
    /// the acceptance length per depth.</summary>
    public double AcceptedAtLeast(int depth)
    {
        long rounds = 0, reached = 0;
        for (int a = 0; a < AcceptedLengthHistogram.Length; a++)
        {
            rounds += AcceptedLengthHistogram[a];
            if (a >= depth) reached += AcceptedLengthHistogram[a];
        }
        return rounds > 0 ? (double)reached / rounds : 0;
    }

    /// <summary>"depth 1 80%, 2 55%, …": <see cref="AcceptedAtLeast"/> for every depth some round reached.</summary>
    public string AcceptanceByDepth()
    {
        var c = CultureInfo.InvariantCulture;
        var parts = new List<string>();
        for (int d = 1; d <= MaxAcceptedPathLength && d < AcceptedLengthHistogram.Length; d++) parts.Add(string.Format(c, "{0} {1:P0}", d, AcceptedAtLeast(d)));
        return parts.Count > 0 ? "accepted ≥ depth: " + string.Join(", ", parts) : "accepted ≥ depth: none";
    }

    /// <summary>Generated tokens per second after the first token.</summary>
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? Math.Max(0, GeneratedTokens - 1) / DecodeSeconds : 0;
    /// <summary>Prompt tokens per second.</summary>
    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PromptTokens / PrefillSeconds : 0;
    /// <summary>Accepted draft tokens ÷ positions tried: the per-token acceptance rate α.</summary>
    public double AcceptanceRate => TriedPositions > 0 ? (double)AcceptedTokens / TriedPositions : 0;
    /// <summary>Accepted draft tokens per round (the mean accepted path length for trees).</summary>
    public double MeanAcceptedPerRound => Rounds > 0 ? (double)AcceptedTokens / Rounds : 0;
    /// <summary>Tokens produced per target pass: accepted + 1.</summary>
    public double TokensPerRound => Rounds > 0 ? (double)(AcceptedTokens + Rounds) / Rounds : 0;
    /// <summary>Mean accepted path length per round (the same as <see cref="MeanAcceptedPerRound"/>; the name trees use).</summary>
    public double MeanAcceptedPathLength => MeanAcceptedPerRound;
    /// <summary>Tokens the target verified per pass in speculative rounds (pending token + draft nodes).</summary>
    public double VerifiedTokensPerPass
    {
        get
        {
            long speculative = 0;
            for (int k = 1; k < DraftLengthHistogram.Length; k++) speculative += DraftLengthHistogram[k];
            return speculative > 0 ? (double)VerifiedTokens / speculative : 0;
        }
    }
    /// <summary>Mean draft length chosen.</summary>
    public double MeanDraftLength => Rounds > 0 ? (double)DraftLengthSum / Rounds : 0;

    /// <summary>Rounds whose draft distribution was invalid (NaN, infinity, not a distribution) and was rejected
    /// whole: the drafter is broken, and the output is the target's alone.</summary>
    public int InvalidDraftRounds { get; internal set; }

    /// <summary>One line of speculation statistics.</summary>
    public string SpeculationSummary()
    {
        var c = CultureInfo.InvariantCulture;
        double busy = DraftSeconds + VerifySeconds;
        string share = busy > 0 ? string.Format(c, "draft {0:P0} / verify {1:P0}", DraftSeconds / busy, VerifySeconds / busy) : "n/a";
        var chosen = new List<string>();
        // k = 0: plain steps that auto chose over drafting.
        for (int k = 0; k < DraftLengthHistogram.Length; k++)
            if (DraftLengthHistogram[k] > 0) chosen.Add(k == 0 ? $"plain×{DraftLengthHistogram[0]}" : $"{k}×{DraftLengthHistogram[k]}");
        string warning = InvalidDraftRounds > 0
            ? string.Format(c, "; warning: the draft's distribution was invalid (NaN or infinity) in {0} rounds, whose drafts were rejected (output is the target's)", InvalidDraftRounds)
            : "";
        if (Tree != null)
        {
            return Warn(string.Format(c,
                "{0} tree {1}: rounds {2}, acceptance {3:P1}, mean accepted path {4:F2} (longest {5}), tokens/round {6:F2}, verified tokens/pass {7:F2}, mean depth {8:F2}, time {9}, {10:F1} tok/s",
                Drafter ?? "plain", Tree, Rounds, AcceptanceRate, MeanAcceptedPathLength, MaxAcceptedPathLength, TokensPerRound, VerifiedTokensPerPass,
                MeanDraftLength, share, DecodeTokensPerSecond), warning);
        }
        return Warn(string.Format(c,
            "{0}: rounds {1}, acceptance {2:P1}, accepted/round {3:F2}, tokens/round {4:F2}, mean k {5:F2} (k chosen: {6}), time {7}, {8:F1} tok/s",
            Drafter ?? "plain", Rounds, AcceptanceRate, MeanAcceptedPerRound, TokensPerRound, MeanDraftLength,
            chosen.Count > 0 ? string.Join(" ", chosen) : "none", share, DecodeTokensPerSecond), warning);
    }

    private static string Warn(string line, string warning) => line + warning;
}
