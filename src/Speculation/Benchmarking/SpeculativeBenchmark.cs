using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>One row of a speculative benchmark.</summary>
/// <param name="Drafter">Drafter name.</param>
/// <param name="DraftLength">"k", "auto", or the tree setting.</param>
/// <param name="Alpha">Simulated acceptance rate, or null for a real drafter.</param>
/// <param name="AcceptanceRate">Measured per-token acceptance.</param>
/// <param name="TokensPerRound">Tokens produced per target pass.</param>
/// <param name="TokensPerSecond">Decode tokens per second (median over repeats).</param>
/// <param name="SpeedUp">Tokens per second over plain decoding of the same prompts moments before (median over repeats).</param>
/// <param name="PredictedSpeedUp">What the latency model predicts from measured step costs, if computed.</param>
/// <param name="MeanK">Mean draft length chosen (trees: mean depth).</param>
/// <param name="OutputMatches">True if the output equals plain greedy decoding.</param>
public sealed record SpeculativeRow(string Drafter, string DraftLength, double? Alpha, double AcceptanceRate, double TokensPerRound,
    double TokensPerSecond, double SpeedUp, double? PredictedSpeedUp, double MeanK, bool OutputMatches);

/// <summary>End-to-end speculative decoding benchmarks: every configuration against plain greedy decoding of
/// the same prompts in the same run, checking that the outputs are identical.</summary>
public static class SpeculativeBenchmark
{
    /// <summary>Seconds of alternating plain and speculative runs per configuration, at least (default 4).</summary>
    public static double MinSeconds { get; set; } = 4;

    /// <summary>Most repeats of the prompt set per configuration (default 15).</summary>
    public static int MaxRepeats { get; set; } = 15;

    /// <summary>Plain greedy decoding over <paramref name="prompts"/>: outputs and total tokens/s (best of <paramref name="repeats"/>).</summary>
    public static (List<int[]> Outputs, double TokensPerSecond) Plain(TransformerModel target, IReadOnlyList<int[]> prompts, int newTokens, int repeats = 2)
    {
        using var g = new Generator(target);
        var outputs = new List<int[]>();
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            outputs.Clear();
            int tokens = 0;
            double seconds = 0;
            foreach (int[] p in prompts)
            {
                var (o, s) = g.Generate(p, new GenerationOptions { MaxNewTokens = newTokens, IgnoreEos = true });
                outputs.Add(o);
                tokens += Math.Max(0, o.Length - 1);
                seconds += s.DecodeSeconds;
            }
            best = Math.Max(best, tokens / seconds);
        }
        return (outputs, best);
    }

    /// <summary>Runs <paramref name="drafterFactory"/>'s drafter with one draft-length setting over the prompts, each prompt
    /// right after plain decoding of the same prompt, so that each pair of timings is taken moments apart on a noisy machine.
    /// A repeat of the prompt set gives one speed-up (its speculative tokens/s over its plain tokens/s); the row reports the
    /// medians over repeats, which go on (up to <see cref="MaxRepeats"/>) until both have run for <see cref="MinSeconds"/>.
    /// The draft-length policy lives across repeats, as it would in a long-running process: auto's exploration is in
    /// the first repeat. With <paramref name="tree"/> the drafter grows that tree each round instead (the draft length
    /// is then ignored and the row is labelled with the tree).</summary>
    public static SpeculativeRow Run(TransformerModel target, Func<IDrafter> drafterFactory, string draftLength, IReadOnlyList<int[]> prompts,
        int newTokens, IReadOnlyList<int[]> expected, double? alpha = null, double? predicted = null, int repeats = 2, TreeSpec? tree = null)
    {
        using IDrafter drafter = drafterFactory();
        using var g = new Generator(target, drafter);
        using var plain = new Generator(target);
        var speedUps = new List<double>();
        var rates = new List<double>();
        double accepted = 0, tried = 0, rounds = 0, kSum = 0, produced = 0;
        bool matches = true;
        var policy = DraftLengthPolicy.Parse(draftLength);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int r = 0; r < repeats || (r < MaxRepeats && clock.Elapsed.TotalSeconds < MinSeconds); r++)
        {
            int tokens = 0, plainTokens = 0;
            double seconds = 0, plainSeconds = 0;
            accepted = tried = rounds = kSum = produced = 0;
            for (int i = 0; i < prompts.Count; i++)
            {
                var (po, ps) = plain.Generate(prompts[i], new GenerationOptions { MaxNewTokens = newTokens, IgnoreEos = true });
                plainTokens += Math.Max(0, po.Length - 1);
                plainSeconds += ps.DecodeSeconds;
                var (o, s) = g.Generate(prompts[i], new GenerationOptions { MaxNewTokens = newTokens, DraftLength = policy, Tree = tree, IgnoreEos = true });
                matches &= o.AsSpan().SequenceEqual(expected[i]);
                tokens += Math.Max(0, o.Length - 1);
                seconds += s.DecodeSeconds;
                accepted += s.AcceptedTokens;
                tried += s.TriedPositions;
                rounds += s.Rounds;
                kSum += s.DraftLengthSum;
                produced += s.AcceptedTokens + s.Rounds;
            }
            rates.Add(tokens / seconds);
            speedUps.Add(tokens / seconds / (plainTokens / plainSeconds));
        }
        return new SpeculativeRow(drafter.Name, tree?.ToString() ?? draftLength, alpha, tried > 0 ? accepted / tried : 0, rounds > 0 ? produced / rounds : 0,
            Median(rates), Median(speedUps), predicted, rounds > 0 ? kSum / rounds : 0, matches);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }

    /// <summary>
    /// The synthetic-acceptance benchmark: a real random-weight target and draft, with each draft token replaced by
    /// the target's own greedy token with probability α (see <see cref="OracleMixDrafter"/>). Also returns the
    /// latency model's prediction from measured per-step costs. Each tree setting of <paramref name="trees"/> is run
    /// beside the draft lengths <paramref name="ks"/>.
    /// </summary>
    public static List<SpeculativeRow> Synthetic(TransformerModel target, TransformerModel draft, IReadOnlyList<double> alphas, IReadOnlyList<string> ks,
        int newTokens, Action<string>? progress = null, IReadOnlyList<TreeSpec>? trees = null)
    {
        progress?.Invoke("measuring the draft step for the latency model");
        double draftStep = DecodeBenchmark.PrefillAndDecode(draft, 8, 64, 2).Decode.SecondsPerPass;
        return Synthetic(target, () => new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft"), draftStep, alphas, ks, newTokens, progress, trees);
    }

    /// <summary>The synthetic-acceptance benchmark for any drafter (a draft model, a draft head): <paramref name="makeDrafter"/>
    /// builds the real drafter whose proposals the oracle mixes; <paramref name="draftStepSeconds"/> is its measured cost per
    /// drafted token, for the latency model's prediction. Each tree setting of <paramref name="trees"/> is run beside the
    /// draft lengths.</summary>
    public static List<SpeculativeRow> Synthetic(TransformerModel target, Func<IDrafter> makeDrafter, double draftStepSeconds, IReadOnlyList<double> alphas,
        IReadOnlyList<string> ks, int newTokens, Action<string>? progress = null, IReadOnlyList<TreeSpec>? trees = null)
    {
        int vocab = target.Config.VocabSize;
        var prompts = new List<int[]> { Enumerable.Range(0, 8).Select(i => (1 + i * 37) % vocab).ToArray() };
        progress?.Invoke("plain greedy baseline");
        var (expected, plainTps) = Plain(target, prompts, newTokens);
        progress?.Invoke($"plain greedy: {plainTps:F1} tok/s");
        double plainStep = DecodeBenchmark.PrefillAndDecode(target, 8, 64, 2).Decode.SecondsPerPass;
        int[] reference = prompts[0].Concat(expected[0]).ToArray();
        var verifyCost = new Dictionary<int, double>();

        var rows = new List<SpeculativeRow>();
        foreach (double alpha in alphas)
        {
            foreach (string k in ks)
            {
                double? predicted = null;
                if (int.TryParse(k, out int kk))
                {
                    if (!verifyCost.TryGetValue(kk, out double tv)) verifyCost[kk] = tv = DecodeBenchmark.Verify(target, kk + 1, 10).SecondsPerPass;
                    // Tokens per second relative to plain decoding at plainStep seconds per token.
                    predicted = DraftLengthPolicy.PredictedTokensPerSecond(alpha, kk, draftStepSeconds, tv) * plainStep;
                }
                progress?.Invoke($"α={alpha:0.##} k={k}");
                rows.Add(Run(target, () => new OracleMixDrafter(makeDrafter(), reference, alpha), k, prompts, newTokens, expected, alpha, predicted));
            }
            foreach (TreeSpec tree in trees ?? Array.Empty<TreeSpec>())
            {
                progress?.Invoke($"α={alpha:0.##} tree {tree}");
                rows.Add(Run(target, () => new OracleMixDrafter(makeDrafter(), reference, alpha), "1", prompts, newTokens, expected, alpha, tree: tree));
            }
        }
        return rows;
    }
}
