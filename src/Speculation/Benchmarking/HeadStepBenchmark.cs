using System.Diagnostics;
using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Heads;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>Times one draft step of a head as drafting runs it: one row through the head after a committed prefix, its
/// draft-vocabulary logits read back and the argmax taken (EAGLE-3); every head's logits for a round (Medusa).</summary>
public static class HeadStepBenchmark
{
    /// <summary>Seconds per EAGLE-3 draft step after a 64-entry head cache, best of <paramref name="repeats"/> averages.</summary>
    public static double Eagle3Step(Eagle3Head head, int repeats = 5, int steps = 20)
    {
        const int prefix = 64;
        using var s = head.CreateState(prefix + steps + 2, prefix);
        var tokens = new int[prefix];
        var positions = new int[prefix];
        var parents = new int[prefix];
        for (int i = 0; i < prefix; i++) (tokens[i], positions[i], parents[i]) = ((1 + i * 37) % head.TargetVocabSize, i + 1, i - 1);
        head.Step(s, prefix, tokens, positions, 0, parents);
        int[] one = { 3 }, at = { prefix + 1 }, root = { -1 }, feed = { 0 };
        double best = double.MaxValue;
        long warmUntil = Stopwatch.GetTimestamp() + (long)(DecodeBenchmark.WarmUpSeconds * Stopwatch.Frequency);
        for (int r = -1; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int j = 0; j < steps; j++)
            {
                head.FeedBack(s, feed);
                at[0] = prefix + 1 + j;
                head.Step(s, 1, one, at, prefix + j, root);
                one[0] = head.DraftToTarget[Sampler.ArgMax(head.ReadLogits(s, 1))];
            }
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds / steps;
            if (r < 0)
            {
                if (Stopwatch.GetTimestamp() < warmUntil) r--;
                continue;
            }
            best = Math.Min(best, seconds);
        }
        return best;
    }

    /// <summary>Seconds for one round of Medusa heads (every head on one hidden state, logits read back), best of <paramref name="repeats"/>.</summary>
    public static double MedusaRound(MedusaHeads heads, int repeats = 10)
    {
        using var hidden = heads.Backend.Allocate(Tensors.DType.F32, 1, heads.Hidden);
        heads.Backend.Write(hidden, Enumerable.Repeat(0.1f, heads.Hidden).ToArray());
        double best = double.MaxValue;
        long warmUntil = Stopwatch.GetTimestamp() + (long)(DecodeBenchmark.WarmUpSeconds * Stopwatch.Frequency);
        for (int r = -1; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            heads.Forward(hidden);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (r < 0)
            {
                if (Stopwatch.GetTimestamp() < warmUntil) r--;
                continue;
            }
            best = Math.Min(best, seconds);
        }
        return best;
    }
}
