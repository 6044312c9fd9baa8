using System.CommandLine;
using System.Globalization;
using SpecCore.Engine;
using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Registry;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Heads;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore generate</c>: stream a continuation of a prompt, optionally with speculative decoding.</summary>
public static class GenerateCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var engineArgs = new EngineArguments();
        var requestArgs = new RequestArguments();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue (BOS is added as the model expects).", DefaultValueFactory = _ => "" };
        var compare = new Option<bool>("--compare") { Description = "Also run plain decoding with the same prompt and seed, check greedy outputs match, and print the speed-up (both warm up first on up to 128 tokens)." };
        var noStop = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-sequence and other stop tokens: exactly --max-tokens tokens come out (refused when prompt plus --max-tokens exceeds --ctx-size), as benchmarks need." };

        var command = new Command("generate", "Generate text from a prompt, streaming it to stdout; timings and speculation statistics go to stderr.");
        command.Options.Add(prompt);
        requestArgs.AddTo(command);
        engineArgs.AddTo(command);
        command.Options.Add(compare);
        command.Options.Add(noStop);
        command.SetAction(parse =>
        {
            try
            {
                return Run(parse);
            }
            catch (NonFiniteLogitsException e)
            {
                // Name the model: its weights are finite (checked at load) but overflow in the forward pass.
                throw new InvalidDataException($"{parse.GetValue(engineArgs.Model)}: {e.Message}", e);
            }
        });
        return command;

        int Run(ParseResult parse)
        {
            bool ignoreEos = parse.GetValue(noStop);
            CompletionRequest request = requestArgs.Read(parse) with { IgnoreEos = ignoreEos };
            EngineOptions options = engineArgs.Read(parse);
            if (parse.GetValue(compare) && options.Draft == null && options.Drafter == null && options.Heads == null)
                throw new ArgumentException("--compare needs --draft, --drafter or --heads: it compares speculative with plain decoding");
            string promptText = parse.GetValue(prompt)!;

            using IBackend backend = engineArgs.CreateBackend(parse);
            // The engine checks the context and the tokenizer before any weights are read; so is the prompt.
            using var engine = InferenceEngine.Load(options, backend,
                plan => CheckFits(plan.EncodePrompt(promptText).Length, request.MaxTokens, ignoreEos, plan.Capacity, plan.Config.MaxPositions));
            EngineArguments.PrintLoaded(engine, backend);

            using EngineSession session = engine.OpenSession();
            int[] promptIds = session.EncodePrompt(promptText);
            using EngineSession? plain = parse.GetValue(compare) ? engine.OpenSession(speculative: false) : null;
            if (plain != null)
            {
                // Warm both paths up first so that neither timed run pays for JIT compilation or for a fresh process's first
                // rounds (which run 2-5x slower on a shared machine), and so that --spec-k auto is timed as a running process
                // would see it: the pair's draft-length policy settles and explores during the warm-up.
                var warmup = request with { MaxTokens = Math.Min(128, request.MaxTokens) };
                plain.Complete(promptIds, warmup);
                session.Complete(promptIds, warmup);
            }

            var stdout = parse.InvocationConfiguration.Output;
            // Echo the prompt as the model sees it, then stream the continuation after it.
            stdout.Write(engine.Tokenizer.Decode(promptIds, skipSpecialTokens: !request.ShowSpecialTokens));
            CompletionResult result = session.Complete(promptIds, request, piece => { stdout.Write(piece); stdout.Flush(); });
            stdout.WriteLine();
            GenerationStats stats = result.Stats;
            PrintStats(stats);

            if (plain != null)
            {
                CompletionResult plainResult = plain.Complete(promptIds, request);
                GenerationStats plainStats = plainResult.Stats;
                Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "plain: {0:F1} tok/s; speculative: {1:F1} tok/s; speed-up {2:F2}x",
                    plainStats.DecodeTokensPerSecond, stats.DecodeTokensPerSecond, stats.DecodeTokensPerSecond / plainStats.DecodeTokensPerSecond));
                if (request.Temperature <= 0)
                {
                    bool same = plainResult.Tokens.AsSpan().SequenceEqual(result.Tokens);
                    Console.Error.WriteLine(same ? "outputs identical: yes" : "outputs identical: NO — speculative output differs from plain greedy decoding");
                    if (!same) return 1;
                }
            }
            return 0;
        }
    }

    /// <summary>Refuses a prompt that leaves no room for a new token, and with --ignore-eos one that leaves no room for all of them.</summary>
    private static void CheckFits(int promptTokens, int maxTokens, bool ignoreEos, int capacity, int modelContext)
    {
        string raise = capacity < modelContext ? $"; --ctx-size can raise it up to the model's {modelContext}" : "";
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
                StopReason.Cancelled => "cancelled",
                _ => "max tokens",
            }));
        if (s.Drafter != null)
        {
            Console.Error.WriteLine(s.SpeculationSummary());
            Console.Error.WriteLine(s.AcceptanceByDepth());
        }
    }
}
