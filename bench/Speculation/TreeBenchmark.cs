using SpecCore.Speculation.Benchmarking;
using System.Globalization;
using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;

namespace SpecCore.Bench.Speculation;

/// <summary>One configuration of the tree benchmark.</summary>
/// <param name="Pair">"target←draft".</param>
/// <param name="Method">plain, chain, static, sequoia, dynamic or lookup-tree.</param>
/// <param name="Setting">k for chains, the tree setting for trees.</param>
/// <param name="VerifiedPerPass">Tokens the target runs per speculative pass (pending token + draft nodes).</param>
/// <param name="AcceptedPerPass">Accepted draft tokens per target pass (the mean accepted path length).</param>
/// <param name="TokensPerPass">Tokens produced per target pass (accepted + 1).</param>
/// <param name="TokensPerSecond">Decode tokens per second (best of the repeats).</param>
/// <param name="SpeedUp">Tokens per second over plain greedy decoding measured beside it.</param>
/// <param name="OutputMatches">True if every output equals plain greedy decoding.</param>
public sealed record TreeBenchRow(string Pair, string Method, string Setting, double VerifiedPerPass, double AcceptedPerPass,
    double TokensPerPass, double TokensPerSecond, double SpeedUp, bool OutputMatches);

/// <summary>
/// Token trees against chains against plain decoding on real model pairs, greedy, same prompts and run: accepted
/// tokens per target pass and tokens per second. Every speculative output is checked against plain greedy decoding.
/// </summary>
public static class TreeBenchmark
{
    /// <summary>The prompts compared (<see cref="BenchmarkPrompts.TinyStories"/>).</summary>
    public static IReadOnlyList<string> Prompts => BenchmarkPrompts.TinyStories;

    /// <summary>Chain lengths compared by default.</summary>
    public static readonly int[] DefaultChains = { 1, 2, 3, 4, 6, 8, 11, 15 };

    /// <summary>Tree settings compared by default: 15 nodes (16 verified tokens per pass) and 7 nodes (8).</summary>
    public static readonly string[] DefaultTrees =
    {
        "static:3x1x1x1x1", "sequoia:15", "dynamic:15", "static:2x1x1x1", "sequoia:7", "dynamic:7",
    };

    /// <summary>
    /// Benchmarks the two shared pairs (stories2M ← stories260K, stories260K ← tinystories-draft) from
    /// <paramref name="modelsDirectory"/> on the CPU backend with <paramref name="threads"/> threads, Sequoia shapes from
    /// <paramref name="profilesDirectory"/>, and prints the table to <paramref name="output"/>.
    /// </summary>
    /// <param name="modelsDirectory">The shared models folder.</param>
    /// <param name="profilesDirectory">Folder of the acceptance profiles.</param>
    /// <param name="threads">CPU threads.</param>
    /// <param name="output">Where the table goes.</param>
    /// <param name="newTokens">Tokens generated per prompt.</param>
    /// <param name="repeats">Timed repeats per configuration (the best counts).</param>
    /// <param name="chains">Chain lengths (default <see cref="DefaultChains"/>).</param>
    /// <param name="trees">Tree settings (default <see cref="DefaultTrees"/>).</param>
    /// <param name="pairs">Which pairs ("stories2M", "stories260K" as target names; default both).</param>
    public static List<TreeBenchRow> RunSharedPairs(string modelsDirectory, string profilesDirectory, int threads, TextWriter output,
        int newTokens = 128, int repeats = 2, IReadOnlyList<int>? chains = null, IReadOnlyList<string>? trees = null, IReadOnlyList<string>? pairs = null)
    {
        var rows = new List<TreeBenchRow>();
        using var backend = new CpuBackend(threads);
        output.WriteLine($"backend: {backend.Description}");
        foreach (var (targetName, draftName) in new[] { ("stories2M", "stories260K"), ("stories260K", "tinystories-draft") })
        {
            if (pairs != null && !pairs.Contains(targetName)) continue;
            string targetDir = Path.Combine(modelsDirectory, targetName);
            using var target = LoadedModel.Load(targetDir, backend);
            using var draft = LoadedModel.Load(Path.Combine(modelsDirectory, draftName), backend);
            var profile = AcceptanceProfile.Load(Path.Combine(profilesDirectory, AcceptanceProfile.FileName(targetName, draftName)));
            ITextTokenizer tokenizer = TokenizerLoader.Load(targetDir);
            var prompts = Prompts.Select(p => tokenizer.Encode(p, addSpecialTokens: true)).ToList();
            rows.AddRange(Run(target.Model, draft.Model, profile, prompts, newTokens, chains ?? DefaultChains, trees ?? DefaultTrees,
                $"{targetName}←{draftName}", s => output.WriteLine($"  {s}"), repeats));
        }
        Print(rows, output);
        return rows;
    }

    /// <summary>Runs plain decoding, every chain length in <paramref name="chains"/>, every tree setting in
    /// <paramref name="trees"/> with the draft model, and each tree's node budget with prompt lookup, over the same prompts.</summary>
    public static List<TreeBenchRow> Run(TransformerModel target, TransformerModel draft, AcceptanceProfile profile, IReadOnlyList<int[]> prompts,
        int newTokens, IReadOnlyList<int> chains, IReadOnlyList<string> trees, string pair, Action<string>? progress = null, int repeats = 2)
    {
        int capacity = Math.Min(target.Config.MaxPositions, draft.Config.MaxPositions);
        newTokens = Math.Min(newTokens, capacity - prompts.Max(p => p.Length) - 1);
        using var plain = new Generator(target);
        var expected = prompts.Select(p => plain.Generate(p, new GenerationOptions { IgnoreEos = true, MaxNewTokens = newTokens }).Tokens).ToList();
        double plainTps = 0;
        var rows = new List<TreeBenchRow>();

        TreeBenchRow Measure(string method, string setting, Func<IDrafter> makeDrafter, GenerationOptions options)
        {
            using IDrafter drafter = makeDrafter();
            using var g = new Generator(target, drafter);
            double best = 0, bestPlain = 0;
            long accepted = 0, rounds = 0, verified = 0, speculative = 0;
            bool matches = true;
            for (int r = 0; r < repeats; r++)
            {
                bestPlain = Math.Max(bestPlain, Throughput(plain, prompts, new GenerationOptions { IgnoreEos = true, MaxNewTokens = newTokens }, null, out _));
                accepted = rounds = verified = speculative = 0;
                best = Math.Max(best, Throughput(g, prompts, options with { MaxNewTokens = newTokens }, expected, out var all));
                foreach (var (ok, s) in all)
                {
                    matches &= ok;
                    accepted += s.AcceptedTokens;
                    rounds += s.Rounds;
                    verified += s.VerifiedTokens;
                    speculative += s.DraftLengthHistogram.Sum();
                }
            }
            plainTps = Math.Max(plainTps, bestPlain);
            var row = new TreeBenchRow(pair, method, setting, speculative > 0 ? (double)verified / speculative : 1,
                rounds > 0 ? (double)accepted / rounds : 0, rounds > 0 ? (double)(accepted + rounds) / rounds : 1, best, best / bestPlain, matches);
            progress?.Invoke(Format(row));
            return row;
        }

        foreach (int k in chains)
            rows.Add(Measure("chain", $"k={k}", () => new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft"),
                new GenerationOptions { IgnoreEos = true, DraftLength = DraftLengthPolicy.Fixed(k) }));
        foreach (string text in trees)
        {
            TreeSpec spec = TreeSpec.Parse(text).WithProfile(profile);
            rows.Add(Measure(spec.Kind.ToString().ToLowerInvariant(), spec.ToString(), () => new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft"),
                new GenerationOptions { IgnoreEos = true, Tree = spec }));
        }
        foreach (int nodes in trees.Select(t => TreeSpec.Parse(t).NodeBudget).Distinct())
        {
            rows.Add(Measure("lookup-tree", $"dynamic:{nodes}", () => new PromptLookupDrafter(target.Config.VocabSize),
                new GenerationOptions { IgnoreEos = true, Tree = TreeSpec.Dynamic(nodes) }));
        }
        Throughput(plain, prompts, new GenerationOptions { IgnoreEos = true, MaxNewTokens = newTokens }, null, out _);
        rows.Insert(0, new TreeBenchRow(pair, "plain", "-", 1, 0, 1, plainTps, 1, true));
        return rows;
    }

    /// <summary>Decode tokens per second over all prompts; per prompt whether the output matched and its statistics.</summary>
    private static double Throughput(Generator g, IReadOnlyList<int[]> prompts, GenerationOptions options, IReadOnlyList<int[]>? expected,
        out List<(bool Matches, GenerationStats Stats)> results)
    {
        results = new List<(bool, GenerationStats)>();
        int tokens = 0;
        double seconds = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            var (o, s) = g.Generate(prompts[i], options);
            results.Add((expected == null || o.AsSpan().SequenceEqual(expected[i]), s));
            tokens += Math.Max(0, o.Length - 1);
            seconds += s.DecodeSeconds;
        }
        return seconds > 0 ? tokens / seconds : 0;
    }

    /// <summary>Writes the rows as a table.</summary>
    public static void Print(IEnumerable<TreeBenchRow> rows, TextWriter output)
    {
        output.WriteLine($"{"pair",-30} {"method",-12} {"setting",-44} {"verified/pass",13} {"accepted/pass",13} {"tokens/pass",11} {"tok/s",8} {"speed-up",8} {"same",4}");
        foreach (var r in rows) output.WriteLine(Format(r));
    }

    private static string Format(TreeBenchRow r) => string.Format(CultureInfo.InvariantCulture,
        "{0,-30} {1,-12} {2,-44} {3,13:F2} {4,13:F2} {5,11:F2} {6,8:F1} {7,7:F2}x {8,4}",
        r.Pair, r.Method, r.Setting, r.VerifiedPerPass, r.AcceptedPerPass, r.TokensPerPass, r.TokensPerSecond, r.SpeedUp, r.OutputMatches ? "yes" : "NO");

    /// <summary>Measures the acceptance profiles of both shared pairs over the reference prompts (and their greedy
    /// continuations) and writes them to <paramref name="profilesDirectory"/> as <c>&lt;target&gt;__&lt;draft&gt;.json</c>.</summary>
    public static void MeasureSharedProfiles(string modelsDirectory, string profilesDirectory, int threads, TextWriter output)
    {
        using var backend = new CpuBackend(threads);
        Directory.CreateDirectory(profilesDirectory);
        foreach (var (targetName, draftName) in new[] { ("stories2M", "stories260K"), ("stories260K", "tinystories-draft") })
        {
            using var target = LoadedModel.Load(Path.Combine(modelsDirectory, targetName), backend);
            using var draft = LoadedModel.Load(Path.Combine(modelsDirectory, draftName), backend);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(modelsDirectory, "reference", $"{targetName}.greedy.json")));
            var prompts = doc.RootElement.GetProperty("cases").EnumerateArray()
                .Select(c => c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToList();
            var profile = AcceptanceProfile.Measure(target.Model, draft.Model, prompts, 128, targetName: targetName, draftName: draftName);
            string path = Path.Combine(profilesDirectory, AcceptanceProfile.FileName(targetName, draftName));
            profile.Save(path);
            output.WriteLine($"{path}: {profile}");
            foreach (int budget in new[] { 7, 15, 31 })
            {
                TreeShape shape = TreeShape.Sequoia(profile, budget, budget);
                output.WriteLine(string.Format(CultureInfo.InvariantCulture, "  sequoia:{0} → {1}, expected accepted {2:F2}", budget, shape.Describe(), shape.ExpectedAcceptedLength(profile)));
            }
        }
    }
}
