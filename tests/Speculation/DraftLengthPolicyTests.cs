using SpecCore.Speculation.Generation;

namespace SpecCore.Tests.Speculation;

/// <summary>The adaptive draft length follows its latency model, including the choice of plain steps (k = 0).</summary>
public class DraftLengthPolicyTests
{
    /// <summary>Runs the policy for <paramref name="rounds"/> rounds against a simulated pair: a plain step costs 1 ms, a
    /// draft token <paramref name="draftMs"/>, a verify pass of k drafts 1 + <paramref name="verifyMsPerToken"/>·k ms, and
    /// the first floor(α·k + 0.5) drafts of a round are accepted. Returns how often each k was chosen.</summary>
    private static int[] Simulate(DraftLengthPolicy policy, double alpha, double draftMs, double verifyMsPerToken, int rounds)
    {
        var chosen = new int[policy.MaxK + 1];
        for (int r = 0; r < rounds; r++)
        {
            int k = policy.Choose();
            chosen[k]++;
            if (k == 0)
            {
                policy.RecordPlain(1e-3);
                continue;
            }
            int accepted = Math.Min(k, (int)Math.Floor(alpha * k + 0.5));
            int tried = accepted + (accepted < k ? 1 : 0);
            policy.Record(k, tried, accepted, k * draftMs * 1e-3, (1 + verifyMsPerToken * k) * 1e-3);
        }
        return chosen;
    }

    [Fact]
    public void AutoFallsBackToPlainStepsWhenNoDraftLengthPays()
    {
        // A draft token as costly as a target step, and a draft that is mostly wrong: speculation loses at every k.
        var policy = DraftLengthPolicy.Adaptive(8);
        int[] chosen = Simulate(policy, alpha: 0.2, draftMs: 1.0, verifyMsPerToken: 0.2, rounds: 400);
        Assert.True(chosen[0] > 300, $"plain steps chosen {chosen[0]} of 400 times");
        // It keeps probing k = 1 so that a better acceptance rate would bring drafting back.
        Assert.True(chosen[1] >= 10, $"k = 1 probed {chosen[1]} times");
    }

    [Fact]
    public void AutoDraftsWhenTheLatencyModelSaysItPays()
    {
        // A cheap draft (5 % of a step) with high acceptance: long drafts win and plain steps are only explored once.
        var policy = DraftLengthPolicy.Adaptive(8);
        int[] chosen = Simulate(policy, alpha: 0.9, draftMs: 0.05, verifyMsPerToken: 0.1, rounds: 400);
        Assert.Equal(1, chosen[0]);
        int best = Array.IndexOf(chosen, chosen.Max());
        Assert.True(best >= 4, $"most chosen k was {best}: [{string.Join(", ", chosen)}]");
    }

    [Fact]
    public void OneSlowRoundDoesNotRuleOutTheBestDraftLength()
    {
        // k = 2 beats k = 1 by about a quarter here (2.71 tokens per 1.3 ms against 1.9 per 1.15 ms).
        var policy = DraftLengthPolicy.Adaptive(2);
        Assert.True(Simulate(policy, alpha: 0.9, draftMs: 0.05, verifyMsPerToken: 0.1, rounds: 60)[2] > 40);
        // One k = 2 round slowed 50-fold (the thread was preempted): without the clamp its average cost would jump
        // tenfold and k = 2 would only come back through occasional probes.
        policy.Record(2, 2, 2, 2 * 0.05e-3 * 50, 1.2e-3 * 50);
        int[] after = Simulate(policy, alpha: 0.9, draftMs: 0.05, verifyMsPerToken: 0.1, rounds: 30);
        Assert.True(after[2] >= 25, $"k = 2 chosen {after[2]} of 30 times after one slow round");
    }

    [Fact]
    public void FixedDraftLengthNeverChoosesPlainSteps()
    {
        var policy = DraftLengthPolicy.Fixed(3);
        int[] chosen = Simulate(policy, alpha: 0.0, draftMs: 5.0, verifyMsPerToken: 1.0, rounds: 50);
        Assert.Equal(50, chosen[3]);
    }
}
