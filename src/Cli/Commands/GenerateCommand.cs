using System.CommandLine;
using System.Globalization;
using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Registry;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore generate</c>: stream a continuation of a prompt, optionally with speculative decoding.</summary>
public static class GenerateCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Target model: a Hugging Face model folder (config.json, model.safetensors, tokenizer) or a name from models.json.", Required = true };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue (BOS is added as the model expects).", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "Sampling temperature; 0 is greedy (the default).", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling: keep the most likely tokens up to this total probability (1 = off).", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep only the K most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed reproduces the same text.", DefaultValueFactory = _ => 42UL };
        var draft = new Option<string?>("--draft") { Description = "Draft model (folder or registry name) sharing the target's tokenizer: enables speculative decoding." };
        var drafter = new Option<string?>("--drafter") { Description = "Drafter without a model: 'lookup' (prompt lookup / n-gram matching)." };
        var specK = new Option<string>("--spec-k") { Description = "Draft tokens per round: a number (1-64) or 'auto' (chosen each round from measured costs and acceptance; a plain step when no draft length pays).", DefaultValueFactory = _ => "4" };
        var tree = new Option<string?>("--tree") { Description = "Draft a token tree instead of a chain: static:<branching> (e.g. static:4x2x2x1), sequoia:<nodes>[:<depth>] (shape by dynamic programming from the pair's acceptance profile), dynamic:<nodes>[:<depth>[:<topk>]] (EAGLE-2 style: expand and keep the most probable nodes)." };
        var treeProfile = new Option<string?>("--tree-profile") { Description = "Acceptance profile JSON for sequoia trees (default: profiles/<target>__<draft>.json shipped with SpecCore)." };
        var compare = new Option<bool>("--compare") { Description = "Also run plain decoding with the same prompt and seed, check greedy outputs match, and print the speed-up (both warm up first on up to 128 tokens)." };
        var noStop = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-sequence and other stop tokens: exactly --max-tokens tokens come out (refused when prompt plus --max-tokens exceeds --ctx-size), as benchmarks need." };
        var stop = new Option<string[]>("--stop")
        {
            Description = "Stop when this text appears in the output (repeat for several); the output is cut before it, and it may span several tokens.",
            HelpName = "text",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var special = new Option<bool>("--special") { Description = "Print special and control tokens (<s>, </s>, <|im_end|>, <|endoftext|>, ...) as text; by default they are left out of the output." };
        var ctxSize = new Option<int?>("--ctx-size", "-c") { HelpName = "tokens", Description = $"Context size in tokens (prompt plus output); the KV cache is allocated for this many. Default: the model's context, at most {Generator.DefaultMaxContext}; more than the model's context is refused." };
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var dtype = CommonOptions.DType();
        var kvDtype = CommonOptions.KvDType();

        var command = new Command("generate", "Generate text from a prompt, streaming it to stdout; timings and speculation statistics go to stderr.")
        {
            model, prompt, maxTokens, temperature, topP, topK, seed, draft, drafter, specK, tree, treeProfile, compare, noStop, stop, special, ctxSize, device, threads, dtype, kvDtype,
        };
        command.SetAction(parse =>
        {
            try
            {
                return Run(parse);
            }
            catch (NonFiniteLogitsException e)
            {
                // Name the model: its weights are finite (checked at load) but overflow in the forward pass.
                throw new InvalidDataException($"{parse.GetValue(model)}: {e.Message}", e);
            }
        });
        return command;

        int Run(ParseResult parse)
        {
            var sampling = new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP), parse.GetValue(seed));
            sampling.Validate();
            int n = parse.GetValue(maxTokens);
            if (n < 0) throw new ArgumentException($"--max-tokens must be ≥ 0, got {n}");
            string? draftName = parse.GetValue(draft);
            string? drafterName = parse.GetValue(drafter);
            if (draftName != null && drafterName != null) throw new ArgumentException("give either --draft (a model) or --drafter lookup, not both");
            if (drafterName != null && !drafterName.Equals("lookup", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"unknown --drafter '{drafterName}' (expected: lookup)");
            DraftLengthPolicy policy = DraftLengthPolicy.Parse(parse.GetValue(specK)!);
            string[] stops = parse.GetValue(stop) ?? Array.Empty<string>();
            foreach (string s in stops)
                if (s.Length == 0) throw new ArgumentException("--stop needs a non-empty string");
            bool ignoreEos = parse.GetValue(noStop);

            var registry = ModelRegistry.Load();
            string targetDir = registry.Resolve(parse.GetValue(model)!);
            string? draftDir = draftName != null ? registry.Resolve(draftName) : null;

            // Settle the context and check that the prompt fits before any weights are read.
            ModelConfig targetConfig = ModelConfig.Load(targetDir);
            int context = ContextSize(parse.GetValue(ctxSize), targetConfig.MaxPositions);
            int capacity = draftDir != null ? Math.Min(context, ModelConfig.Load(draftDir).MaxPositions) : context;
            ITextTokenizer tokenizer = TokenizerLoader.Load(targetDir);
            TokenizerLoader.CheckMatchesModel(tokenizer, targetConfig.VocabSize, targetDir);
            int[] promptIds = tokenizer.Encode(parse.GetValue(prompt)!, addSpecialTokens: true);
            if (promptIds.Length == 0 && targetConfig.BosId is int bos) promptIds = new[] { bos };
            CheckFits(promptIds.Length, n, ignoreEos, capacity, context, targetConfig.MaxPositions);

            using IBackend backend = BackendFactory.Create(parse.GetValue(device)!, CommonOptions.ValidateThreads(parse.GetValue(threads)), Console.Error.WriteLine);
            var weightType = CommonOptions.ParseDType(parse.GetValue(dtype));
            var kvType = CommonOptions.ParseKvDType(parse.GetValue(kvDtype));
            using var target = LoadedModel.Load(targetDir, backend, weightType, kvType);
            using LoadedModel? draftModel = draftDir != null ? LoadedModel.Load(draftDir, backend, weightType, kvType) : null;
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "loaded {0} ({1} layers, dim {2}, {3}) in {4:F2} s on {5}",
                target.Name, target.Config.Layers, target.Config.HiddenSize, target.Model.WeightType.Name(), target.LoadSeconds, backend.Description));
            if (draftModel != null)
                Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "draft {0} ({1} layers, dim {2}) in {3:F2} s", draftModel.Name, draftModel.Config.Layers, draftModel.Config.HiddenSize, draftModel.LoadSeconds));

            var options = new GenerationOptions
            {
                MaxNewTokens = n,
                Sampling = sampling,
                StopTokens = tokenizer.EosIds,
                IgnoreEos = ignoreEos,
                DraftLength = policy,
            };
            if (parse.GetValue(tree) is string treeText)
            {
                if (draftModel == null && drafterName == null) throw new ArgumentException("--tree needs --draft or --drafter lookup");
                TreeSpec spec = TreeSpec.Parse(treeText);
                if (spec.NeedsProfile)
                {
                    string profilePath = parse.GetValue(treeProfile)
                        ?? Path.Combine(AppContext.BaseDirectory, "profiles", AcceptanceProfile.FileName(target.Name, draftModel?.Name ?? "lookup"));
                    if (!File.Exists(profilePath))
                        throw new FileNotFoundException($"no acceptance profile for a sequoia tree at {profilePath}; give one with --tree-profile (profiles are measured by 'dotnet run --project bench -- profiles')");
                    spec = spec.WithProfile(AcceptanceProfile.Load(profilePath));
                }
                options = options with { Tree = spec };
            }

            IDrafter? MakeDrafter() => draftModel != null
                ? new DraftModelDrafter(draftModel.Model, sampling, draftModel.Name, capacity)
                : drafterName != null ? new PromptLookupDrafter(target.Config.VocabSize) : null;

            using IDrafter? active = MakeDrafter();
            using var generator = new Generator(target.Model, active, contextSize: capacity);
            using var plain = parse.GetValue(compare) ? new Generator(target.Model, contextSize: capacity) : null;
            if (plain != null)
            {
                if (active == null) throw new ArgumentException("--compare needs --draft or --drafter: it compares speculative with plain decoding");
                // Warm both paths up first so that neither timed run pays for JIT compilation or for a fresh process's first
                // rounds (which run 2-5x slower on a shared machine), and so that --spec-k auto is timed as a running process
                // would see it: its draft-length policy (shared through the options) settles and explores during the warm-up.
                var warmup = options with { MaxNewTokens = Math.Min(128, n) };
                plain.Generate(promptIds, warmup);
                generator.Generate(promptIds, warmup);
            }

            bool showSpecial = parse.GetValue(special);
            var stdout = parse.InvocationConfiguration.Output;
            // Echo the prompt as the model sees it, then stream the continuation after it.
            stdout.Write(tokenizer.Decode(promptIds, skipSpecialTokens: !showSpecial));
            var streamer = new TextStreamer(tokenizer.CreateStreamingDecoder(skipSpecialTokens: !showSpecial), stdout, stops);
            streamer.Prime(promptIds);
            var (tokens, stats) = generator.Generate(promptIds, options, streamer);
            streamer.Finish();
            stdout.WriteLine();
            PrintStats(stats);

            if (plain != null)
            {
                // The same text-level stops, so that both runs end at the same token.
                var plainStreamer = new TextStreamer(tokenizer.CreateStreamingDecoder(skipSpecialTokens: !showSpecial), TextWriter.Null, stops);
                plainStreamer.Prime(promptIds);
                var (plainTokens, plainStats) = plain.Generate(promptIds, options, plainStreamer);
                Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "plain: {0:F1} tok/s; speculative: {1:F1} tok/s; speed-up {2:F2}x",
                    plainStats.DecodeTokensPerSecond, stats.DecodeTokensPerSecond, stats.DecodeTokensPerSecond / plainStats.DecodeTokensPerSecond));
                if (sampling.IsGreedy)
                {
                    bool same = plainTokens.AsSpan().SequenceEqual(tokens);
                    Console.Error.WriteLine(same ? "outputs identical: yes" : "outputs identical: NO — speculative output differs from plain greedy decoding");
                    if (!same) return 1;
                }
            }
            return 0;
        }
    }

    /// <summary>The context a generation gets: <paramref name="asked"/> (--ctx-size) or the default, never more than the model's.</summary>
    internal static int ContextSize(int? asked, int modelContext)
    {
        if (asked is not int n) return Math.Min(modelContext, Generator.DefaultMaxContext);
        if (n < 1) throw new ArgumentException($"--ctx-size must be at least 1, got {n}");
        if (n > modelContext) throw new ArgumentException($"--ctx-size {n} is more than the model's context of {modelContext} tokens");
        return n;
    }

    /// <summary>Refuses a prompt that leaves no room for a new token, and with --ignore-eos one that leaves no room for all of them.</summary>
    private static void CheckFits(int promptTokens, int maxTokens, bool ignoreEos, int capacity, int context, int modelContext)
    {
        string raise = context < modelContext ? $"; --ctx-size can raise it up to the model's {modelContext}" : "";
        if (promptTokens + 1 > capacity)
            throw new ArgumentException($"the prompt has {promptTokens} tokens but the context holds {capacity} (prompt plus at least one new token{raise})");
        if (ignoreEos && promptTokens + maxTokens > capacity)
            throw new ArgumentException($"--ignore-eos generates exactly --max-tokens tokens, but the prompt's {promptTokens} plus {maxTokens} new tokens exceed the context of {capacity}{raise}");
    }

    internal static void PrintStats(GenerationStats s)
    {
        var c = CultureInfo.InvariantCulture;
        Console.Error.WriteLine(string.Format(c, "prompt {0} tokens: {1:F1} tok/s; generated {2} tokens: {3:F1} tok/s; stop: {4}",
            s.PromptTokens, s.PrefillTokensPerSecond, s.GeneratedTokens, s.DecodeTokensPerSecond, s.StopReason switch
            {
                StopReason.StopToken => "end of sequence",
                StopReason.ContextFull => "context full",
                StopReason.StopString => "stop string",
                _ => "max tokens",
            }));
        if (s.Drafter != null) Console.Error.WriteLine(s.SpeculationSummary());
    }
}
