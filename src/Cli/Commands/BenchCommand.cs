using System.CommandLine;
using System.Globalization;
using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Registry;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Heads;
using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore bench</c>: time prefill, decode and verification passes, and speculative decoding.</summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model folder or registry name to time." };
        var synthetic = new Option<string?>("--synthetic") { Description = $"Time a seeded random-weight model of a known shape instead: {string.Join(", ", ModelPresets.Names)}." };
        var draft = new Option<string?>("--draft") { Description = "Draft model (folder or registry name) for the speculative benchmark." };
        var draftSynthetic = new Option<string?>("--draft-synthetic") { Description = "Random-weight draft of a preset shape (use with --accept)." };
        var heads = new Option<string?>("--heads") { Description = "Draft heads (EAGLE-3 or Medusa folders or safetensors files, comma-separated) for the speculative benchmark of a real model; each runs the draft lengths and the trees in the same run." };
        var headsSynthetic = new Option<string?>("--heads-synthetic") { Description = "Random-weight draft head of the target's shape, eagle3 or medusa (use with --accept): times a real head with an oracle of acceptance α, and shows the cost of a draft step with the full vs the reduced draft vocabulary vs a low-rank head." };
        var draftVocab = new Option<int?>("--draft-vocab") { Description = "Reduced draft vocabulary of --heads-synthetic eagle3 (default: a quarter of the target's)." };
        var headRank = new Option<int>("--head-rank") { Description = "Rank of the low-rank draft LM head timed by --heads-synthetic eagle3.", DefaultValueFactory = _ => 128 };
        var medusaHeads = new Option<int>("--medusa-heads") { Description = "Heads of --heads-synthetic medusa.", DefaultValueFactory = _ => 4 };
        var lookup = new Option<bool>("--lookup") { Description = "Also benchmark the prompt-lookup drafter (real models)." };
        var accept = new Option<string?>("--accept") { Description = "Simulated acceptance rates, e.g. 0.6,0.8,0.9: each draft token is replaced by the target's own greedy token with that probability." };
        var specK = new Option<string>("--spec-k") { Description = "Draft lengths to benchmark, e.g. 1,2,4,8,auto.", DefaultValueFactory = _ => "1,2,3,4,5,6,7,8,auto" };
        var trees = new Option<string?>("--tree") { Description = "Draft trees to benchmark beside the draft lengths, comma-separated, e.g. dynamic:16,dynamic:32:8:4,static:3x2x1 (sequoia needs a profile and is not offered here)." };
        var tokens = new Option<int>("--tokens") { Description = "Tokens to decode per run.", DefaultValueFactory = _ => 128 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of the prefill phase (64 compares with llama.cpp's pp64).", DefaultValueFactory = _ => 8 };
        var verify = new Option<string>("--verify") { Description = "Verification batch sizes k to time.", DefaultValueFactory = _ => "1,2,4,8,16" };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var dtype = CommonOptions.DType();
        var kvDtype = CommonOptions.KvDType();
        var command = new Command("bench", "Time a model: prefill of an 8-token prompt, 128 decoded tokens (forward pass plus sampling, no detokenising), " +
            "verification passes of k tokens, and with a draft, speculative decoding against plain decoding in the same run " +
            "(each prompt right after plain decoding of it; speed-ups are medians over repeats of the prompt set).")
        {
            model, synthetic, draft, draftSynthetic, heads, headsSynthetic, draftVocab, headRank, medusaHeads, lookup, accept, specK, trees, tokens, promptTokens, verify, device, threads, dtype, kvDtype,
        };
        command.SetAction(parse =>
        {
            string? modelName = parse.GetValue(model);
            string? preset = parse.GetValue(synthetic);
            if ((modelName == null) == (preset == null)) throw new ArgumentException("give exactly one of --model or --synthetic");
            int n = parse.GetValue(tokens);
            if (n < 1) throw new ArgumentException("--tokens must be at least 1");
            var weightType = CommonOptions.ParseDType(parse.GetValue(dtype));
            var kvType = CommonOptions.ParseKvDType(parse.GetValue(kvDtype));
            var registry = ModelRegistry.Load();
            using IBackend backend = BackendFactory.Create(parse.GetValue(device)!, CommonOptions.ValidateThreads(parse.GetValue(threads)), Console.Error.WriteLine);
            Console.Error.WriteLine(preset != null ? $"building synthetic {preset}..." : $"loading {modelName}...");
            string? targetDir = modelName != null ? registry.Resolve(modelName) : null;
            using var target = targetDir != null ? LoadedModel.Load(targetDir, backend, weightType, kvType) : LoadedModel.Synthetic(preset!, backend, weightType, kvType: kvType);
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Format(c, "model {0}: {1:F1} M weights streamed per token ({2:F1} MB, {3}, KV cache {5}), backend {4}",
                target.Name, target.Model.StreamedWeightElements / 1e6, target.Model.StreamedWeightBytes / 1e6, target.Model.WeightType.Name(), backend.Description, target.Model.KvCacheType.Name()));

            int prompt = parse.GetValue(promptTokens);
            if (prompt < 1 || prompt + 2 > target.Config.MaxPositions) throw new ArgumentException($"--prompt-tokens must be between 1 and {target.Config.MaxPositions - 2}");
            int[] verifyKs = ParseInts(parse.GetValue(verify)!, "--verify");
            // The probes run before and after the phases and the better figure counts, so a busy moment on a shared
            // machine during one probe does not make the ceiling lower than what the phases reach.
            var cpu = backend as CpuBackend;
            // "of bw" is set against a read of a working set as large as the weights: a model that fits in the last-level
            // cache streams from there, faster than the 1 GiB memory figure (a 300 MiB L3 holds stories110M in F16).
            long workingSet = Math.Min(target.Model.StreamedWeightBytes, MemoryBandwidth.ArrayBytes);
            // Weights of 1 GiB or more: the working-set read is the memory read, measured once.
            bool workingSetIsMemory = workingSet >= MemoryBandwidth.ArrayBytes;
            double? bandwidth = cpu != null ? MemoryBandwidth.MeasureReadGBps(cpu.Threads) : null;
            double? cacheBandwidth = cpu == null ? null : workingSetIsMemory ? bandwidth : MemoryBandwidth.MeasureReadGBps(cpu.Threads, workingSet);
            double? peak = cpu != null ? FmaPeak.MeasureGFlops(cpu.Threads) : null;
            var (prefill, decode) = DecodeBenchmark.PrefillAndDecode(target.Model, prompt, n);
            var phases = new List<PhaseTiming> { prefill, decode };
            foreach (int k in verifyKs)
                if (k + 33 < target.Config.MaxPositions) phases.Add(DecodeBenchmark.Verify(target.Model, k));
            if (cpu != null)
            {
                bandwidth = Math.Max(bandwidth!.Value, MemoryBandwidth.MeasureReadGBps(cpu.Threads));
                cacheBandwidth = workingSetIsMemory ? bandwidth : Math.Max(cacheBandwidth!.Value, MemoryBandwidth.MeasureReadGBps(cpu.Threads, workingSet));
                peak = Math.Max(peak!.Value, FmaPeak.MeasureGFlops(cpu.Threads));
                Console.WriteLine(string.Format(c, "memory read bandwidth ({0} threads, 1 GiB, best of 2 x {2} before and after): {1:F1} GB/s", cpu.Threads, bandwidth, MemoryBandwidth.Passes));
                long? llc = MemoryBandwidth.LastLevelCacheBytes();
                Console.WriteLine(string.Format(c, "read bandwidth over {0:F0} MB, the weights' size{1} (the \"of bw\" ceiling): {2:F1} GB/s", workingSet / 1e6,
                    llc is long l ? string.Format(c, "; last-level cache {0} MiB", l >> 20) : "", cacheBandwidth));
                Console.WriteLine(string.Format(c, "F32 FMA peak ({0} threads, {1}-bit, best of {3} before and after): {2:F1} GFLOP/s", cpu.Threads,
                    System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 512 : 256, peak, FmaPeak.Passes));
            }

            Console.WriteLine($"{"phase",-10} {"tokens/s",12} {"ms/pass",10} {"GB/s",8} {"GFLOP/s",9} {"of bw",7} {"of FMA",7}");
            foreach (var p in phases)
            {
                string share = cacheBandwidth is double bw ? (p.WeightGBps / bw).ToString("P0", c) : "-";
                string fma = peak is double pk ? (p.GFlops / pk).ToString("P0", c) : "-";
                Console.WriteLine(string.Format(c, "{0,-10} {1,12:F1} {2,10:F3} {3,8:F1} {4,9:F1} {5,7} {6,7}", p.Phase, p.TokensPerSecond, p.SecondsPerPass * 1e3, p.WeightGBps, p.GFlops, share, fma));
            }
            Console.WriteLine(string.Format(c, "verify-k cost relative to one decode step: {0}",
                string.Join(", ", phases.Where(p => p.Phase.StartsWith("verify-")).Select(p => $"{p.Phase} {p.SecondsPerPass / decode.SecondsPerPass:F2}x"))));

            string[] ks = parse.GetValue(specK)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string k in ks) Speculation.Generation.DraftLengthPolicy.Parse(k);
            var treeSpecs = (parse.GetValue(trees) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(Speculation.Trees.TreeSpec.Parse).ToList();
            if (treeSpecs.Any(t => t.NeedsProfile)) throw new ArgumentException("--tree: sequoia trees need an acceptance profile; bench takes static and dynamic trees");
            string? draftName = parse.GetValue(draft);
            string? draftPreset = parse.GetValue(draftSynthetic);
            string? acceptText = parse.GetValue(accept);
            if (draftName != null && draftPreset != null) throw new ArgumentException("give either --draft or --draft-synthetic, not both");
            string[] headsPaths = (parse.GetValue(heads) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parse.GetValue(headsSynthetic) is string headKind)
            {
                if (acceptText == null) throw new ArgumentException("--heads-synthetic needs --accept (random heads never agree with the target)");
                var headRows = HeadBench.Synthetic(target.Model, headKind, ParseAlphas(acceptText), ks, n, parse.GetValue(draftVocab), parse.GetValue(headRank),
                    parse.GetValue(medusaHeads), weightType ?? target.Model.WeightType);
                PrintRows(headRows);
                return headRows.All(r => r.OutputMatches) ? 0 : 1;
            }
            if (draftName == null && draftPreset == null && headsPaths.Length == 0 && !parse.GetValue(lookup)) return 0;

            using LoadedModel? draftModel = draftName != null ? LoadedModel.Load(registry.Resolve(draftName), backend, weightType, kvType)
                : draftPreset != null ? LoadedModel.Synthetic(draftPreset, backend, weightType, seed: 99, kvType: kvType) : null;
            List<SpeculativeRow> rows;
            if (acceptText != null)
            {
                if (draftModel == null) throw new ArgumentException("--accept needs --draft or --draft-synthetic");
                double[] alphas = ParseAlphas(acceptText);
                Console.WriteLine(string.Format(c, "draft {0}: {1:F1} MB per token ({2:P1} of the target's bytes)", draftModel.Name,
                    draftModel.Model.StreamedWeightBytes / 1e6, (double)draftModel.Model.StreamedWeightBytes / target.Model.StreamedWeightBytes));
                rows = SpeculativeBenchmark.Synthetic(target.Model, draftModel.Model, alphas, ks, n, s => Console.Error.WriteLine($"  {s}"), treeSpecs);
            }
            else
            {
                if (targetDir == null) throw new ArgumentException("a synthetic target needs --accept (random models never agree with a real draft)");
                ITextTokenizer tokenizer = TokenizerLoader.Load(targetDir);
                var prompts = BenchmarkPrompts.TinyStories.Select(p => tokenizer.Encode(p, addSpecialTokens: true)).ToList();
                int capacity = Math.Min(target.Config.MaxPositions, draftModel?.Config.MaxPositions ?? int.MaxValue);
                int newTokens = Math.Min(n, capacity - prompts.Max(p => p.Length) - 1);
                Console.Error.WriteLine("  plain greedy baseline");
                var (expected, plainTps) = SpeculativeBenchmark.Plain(target.Model, prompts, newTokens);
                Console.WriteLine(string.Format(c, "plain greedy: {0:F1} tok/s over {1} prompts × {2} tokens", plainTps, prompts.Count, newTokens));
                rows = new List<SpeculativeRow>();
                foreach (string k in ks)
                {
                    if (draftModel != null)
                    {
                        Console.Error.WriteLine($"  draft {draftModel.Name} k={k}");
                        rows.Add(SpeculativeBenchmark.Run(target.Model, () => new DraftModelDrafter(draftModel.Model, SamplingOptions.Greedy, draftModel.Name), k, prompts, newTokens, expected));
                    }
                    foreach (string headsPath in headsPaths)
                    {
                        Console.Error.WriteLine($"  heads {headsPath} k={k}");
                        rows.Add(SpeculativeBenchmark.Run(target.Model, () => HeadDrafters.Create(headsPath, target.Model, SamplingOptions.Greedy, capacity, weightType),
                            k, prompts, newTokens, expected));
                    }
                    if (parse.GetValue(lookup))
                    {
                        Console.Error.WriteLine($"  lookup k={k}");
                        rows.Add(SpeculativeBenchmark.Run(target.Model, () => new PromptLookupDrafter(target.Config.VocabSize), k, prompts, newTokens, expected));
                    }
                }
                foreach (var tree in treeSpecs)
                {
                    if (draftModel != null)
                    {
                        Console.Error.WriteLine($"  draft {draftModel.Name} tree {tree}");
                        rows.Add(SpeculativeBenchmark.Run(target.Model, () => new DraftModelDrafter(draftModel.Model, SamplingOptions.Greedy, draftModel.Name), "1", prompts, newTokens, expected, tree: tree));
                    }
                    foreach (string headsPath in headsPaths)
                    {
                        Console.Error.WriteLine($"  heads {headsPath} tree {tree}");
                        rows.Add(SpeculativeBenchmark.Run(target.Model, () => HeadDrafters.Create(headsPath, target.Model, SamplingOptions.Greedy, capacity, weightType),
                            "1", prompts, newTokens, expected, tree: tree));
                    }
                }
            }
            PrintRows(rows);
            return rows.All(r => r.OutputMatches) ? 0 : 1;
        });
        return command;
    }

    private static void PrintRows(List<SpeculativeRow> rows)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"{"drafter",-36} {"k/tree",-16} {"accept",7} {"tok/round",9} {"mean k",7} {"tok/s",9} {"speed-up",9} {"predicted",9} {"same",5}");
        foreach (var r in rows)
        {
            Console.WriteLine(string.Format(c, "{0,-36} {1,-16} {2,7:P1} {3,9:F2} {4,7:F2} {5,9:F1} {6,8:F2}x {7,9} {8,5}",
                r.Drafter, r.DraftLength, r.AcceptanceRate, r.TokensPerRound, r.MeanK, r.TokensPerSecond, r.SpeedUp,
                r.PredictedSpeedUp is double p ? p.ToString("F2", c) + "x" : "-", r.OutputMatches ? "yes" : "NO"));
        }
    }

    private static double[] ParseAlphas(string text) => text.Split(',').Select(a =>
        double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && v <= 1 ? v
            : throw new ArgumentException($"--accept values must be numbers in [0, 1], got '{a}'")).ToArray();

    private static int[] ParseInts(string text, string option) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out int v) && v >= 1 && v <= 64 ? v : throw new ArgumentException($"{option} takes numbers from 1 to 64, got '{s}'")).ToArray();
}
