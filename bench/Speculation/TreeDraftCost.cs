using System.Globalization;
using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;

namespace SpecCore.Bench.Speculation;

/// <summary>
/// What a tree round costs the drafter against a chain of the same depth, on the main pair (stories2M ←
/// stories260K), greedy: drafting seconds per round, interleaved repeats of the prompt set, medians.
/// </summary>
public static class TreeDraftCost
{
    /// <summary>Settings compared by default: each tree beside the chain as deep as the tree may grow.</summary>
    public static readonly string[] DefaultSettings = { "k=16", "dynamic:16", "k=6", "dynamic:16:6", "k=4", "static:3x2x2x1" };

    /// <summary>Runs every setting of <paramref name="settings"/> ("k=N" for a chain, else a tree setting) over the
    /// TinyStories prompts, <paramref name="repeats"/> times interleaved, and prints drafting ms per round, its ratio
    /// to the chain of the tree's depth, draft share and tokens per second.</summary>
    public static void Run(string modelsDirectory, int threads, TextWriter output, int newTokens = 128, int repeats = 5, IReadOnlyList<string>? settings = null)
    {
        settings ??= DefaultSettings;
        using var backend = new CpuBackend(threads);
        using var target = LoadedModel.Load(Path.Combine(modelsDirectory, "stories2M"), backend);
        using var draft = LoadedModel.Load(Path.Combine(modelsDirectory, "stories260K"), backend);
        ITextTokenizer tokenizer = TokenizerLoader.Load(Path.Combine(modelsDirectory, "stories2M"));
        var prompts = BenchmarkPrompts.TinyStories.Select(p => tokenizer.Encode(p, addSpecialTokens: true)).ToList();
        output.WriteLine($"backend: {backend.Description}; stories2M ← stories260K, {prompts.Count} prompts × {newTokens} tokens, {repeats} interleaved repeats");

        var configs = settings.Select(s => s.StartsWith("k=", StringComparison.Ordinal)
            ? (Text: s, Depth: int.Parse(s.AsSpan(2), CultureInfo.InvariantCulture), Options: new GenerationOptions { IgnoreEos = true, MaxNewTokens = newTokens, DraftLength = DraftLengthPolicy.Fixed(int.Parse(s.AsSpan(2), CultureInfo.InvariantCulture)) })
            : (Text: s, Depth: TreeSpec.Parse(s).MaxDepth, Options: new GenerationOptions { IgnoreEos = true, MaxNewTokens = newTokens, Tree = TreeSpec.Parse(s) })).ToList();
        var generators = configs.Select(_ => new Generator(target.Model, new DraftModelDrafter(draft.Model, SamplingOptions.Greedy, "draft"))).ToList();
        var draftMs = configs.Select(_ => new List<double>()).ToList();
        var share = configs.Select(_ => new List<double>()).ToList();
        var tps = configs.Select(_ => new List<double>()).ToList();
        var tokensPerRound = new double[configs.Count];
        try
        {
            for (int r = 0; r <= repeats; r++) // repeat 0 warms up
            {
                for (int c = 0; c < configs.Count; c++)
                {
                    double draftSeconds = 0, verifySeconds = 0, decodeSeconds = 0;
                    long rounds = 0, tokens = 0, produced = 0;
                    foreach (int[] p in prompts)
                    {
                        var (o, s) = generators[c].Generate(p, configs[c].Options);
                        draftSeconds += s.DraftSeconds;
                        verifySeconds += s.VerifySeconds;
                        decodeSeconds += s.DecodeSeconds;
                        rounds += s.Rounds;
                        tokens += Math.Max(0, o.Length - 1);
                        produced += s.AcceptedTokens + s.Rounds;
                    }
                    if (r == 0) continue;
                    draftMs[c].Add(draftSeconds / rounds * 1e3);
                    share[c].Add(draftSeconds / (draftSeconds + verifySeconds));
                    tps[c].Add(tokens / decodeSeconds);
                    tokensPerRound[c] = (double)produced / rounds;
                }
            }
        }
        finally
        {
            foreach (var g in generators) g.Dispose();
        }

        var ci = CultureInfo.InvariantCulture;
        output.WriteLine($"{"setting",-16} {"depth",5} {"draft ms/round",14} {"vs chain",8} {"draft share",11} {"tok/round",9} {"tok/s",8}");
        for (int c = 0; c < configs.Count; c++)
        {
            int chain = configs.FindIndex(x => x.Text == $"k={configs[c].Depth}");
            string ratio = chain >= 0 ? (Median(draftMs[c]) / Median(draftMs[chain])).ToString("F2", ci) + "x" : "-";
            output.WriteLine(string.Format(ci, "{0,-16} {1,5} {2,14:F3} {3,8} {4,11:P0} {5,9:F2} {6,8:F1}",
                configs[c].Text, configs[c].Depth, Median(draftMs[c]), ratio, Median(share[c]), tokensPerRound[c], Median(tps[c])));
        }
    }

    private static double Median(List<double> values)
    {
        var v = values.OrderBy(x => x).ToList();
        int n = v.Count;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
