using System.CommandLine;
using System.Globalization;
using SpecCore.Engine;
using SpecCore.Kernels;
using SpecCore.Speculation.Generation;
using SpecCore.Tensors;

namespace SpecCore.Cli;

/// <summary>The options that say which model to load and how to draft for it, shared by generate, chat and serve.</summary>
internal sealed class EngineArguments
{
    public readonly Option<string> Model = new("--model", "-m") { Description = "Target model: a Hugging Face model folder (config.json, model.safetensors, tokenizer), a name from models.json, or a repo id (org/name) in the Hugging Face cache.", Required = true };
    public readonly Option<string?> Draft = new("--draft") { Description = "Draft model (folder or registry name) sharing the target's tokenizer: enables speculative decoding." };
    public readonly Option<string?> Drafter = new("--drafter") { Description = "Drafter without a model: 'lookup' (prompt lookup / n-gram matching)." };
    public readonly Option<string?> Heads = new("--heads") { Description = "Draft head for the target: an EAGLE-3 or Medusa folder (config.json + *.safetensors) or safetensors file; the kind is read from its config." };
    public readonly Option<string> SpecK = new("--spec-k") { Description = "Draft tokens per round: a number (1-64) or 'auto' (chosen each round from measured costs and acceptance; a plain step when no draft length pays).", DefaultValueFactory = _ => "4" };
    public readonly Option<string?> Tree = new("--tree") { Description = "Draft a token tree instead of a chain: static:<branching> (e.g. static:4x2x2x1), sequoia:<nodes>[:<depth>] (shape by dynamic programming from the pair's acceptance profile), dynamic:<nodes>[:<depth>[:<topk>]] (EAGLE-2 style: expand and keep the most probable nodes)." };
    public readonly Option<string?> TreeProfile = new("--tree-profile") { Description = "Acceptance profile JSON for sequoia trees (default: profiles/<target>__<draft>.json shipped with SpecCore)." };
    public readonly Option<int?> CtxSize = new("--ctx-size", "-c") { HelpName = "tokens", Description = $"Context size in tokens (prompt plus output); the KV cache is allocated for this many. Default: the model's context, at most {Generator.DefaultMaxContext}; more than the model's context is refused." };
    public readonly Option<string> Device = CommonOptions.Device();
    public readonly Option<int?> Threads = CommonOptions.Threads();
    public readonly Option<string?> DType = CommonOptions.DType();
    public readonly Option<string?> KvDType = CommonOptions.KvDType();

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in (Option[])[Model, Draft, Drafter, Heads, SpecK, Tree, TreeProfile, CtxSize, Device, Threads, DType, KvDType])
            command.Options.Add(option);
    }

    /// <summary>The engine options the command line asks for; contradictions are refused before anything is loaded.</summary>
    public EngineOptions Read(ParseResult parse)
    {
        string? draft = parse.GetValue(Draft);
        string? drafter = parse.GetValue(Drafter);
        string? heads = parse.GetValue(Heads);
        if ((draft != null ? 1 : 0) + (drafter != null ? 1 : 0) + (heads != null ? 1 : 0) > 1)
            throw new ArgumentException("give one of --draft (a model), --drafter lookup or --heads, not several");
        if (drafter != null && !drafter.Equals("lookup", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"unknown --drafter '{drafter}' (expected: lookup)");
        if (parse.GetValue(Tree) != null && draft == null && drafter == null && heads == null) throw new ArgumentException("--tree needs --draft, --drafter lookup or --heads");
        DraftLengthPolicy.Parse(parse.GetValue(SpecK)!); // refuse a bad --spec-k before anything is loaded
        int? context = parse.GetValue(CtxSize);
        if (context is < 1) throw new ArgumentException($"--ctx-size must be at least 1, got {context}");
        return new EngineOptions
        {
            Model = parse.GetValue(Model)!,
            Draft = draft,
            Drafter = drafter,
            Heads = heads,
            WeightType = CommonOptions.ParseDType(parse.GetValue(DType)),
            KvType = CommonOptions.ParseKvDType(parse.GetValue(KvDType)),
            ContextSize = context,
            DraftLength = parse.GetValue(SpecK)!,
            Tree = parse.GetValue(Tree),
            TreeProfile = parse.GetValue(TreeProfile),
        };
    }

    /// <summary>The backend --device and --threads name.</summary>
    public IBackend CreateBackend(ParseResult parse) =>
        BackendFactory.Create(parse.GetValue(Device)!, CommonOptions.ValidateThreads(parse.GetValue(Threads)), Console.Error.WriteLine);

    /// <summary>Prints what was loaded, to stderr.</summary>
    public static void PrintLoaded(InferenceEngine engine, IBackend backend)
    {
        var target = engine.Target;
        Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "loaded {0} ({1} layers, dim {2}, {3}) in {4:F2} s on {5}",
            target.Name, target.Config.Layers, target.Config.HiddenSize, target.Model.WeightType.Name(), target.LoadSeconds, backend.Description));
        if (engine.DraftModel is { } draft)
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "draft {0} ({1} layers, dim {2}) in {3:F2} s", draft.Name, draft.Config.Layers, draft.Config.HiddenSize, draft.LoadSeconds));
    }
}

/// <summary>The options of one request: length, sampling and stops, shared by generate and chat.</summary>
internal sealed class RequestArguments
{
    public readonly Option<int> MaxTokens = new("--max-tokens", "-n") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
    public readonly Option<float> Temperature = new("--temperature", "-t") { Description = "Sampling temperature; 0 is greedy (the default).", DefaultValueFactory = _ => 0f };
    public readonly Option<float> TopP = new("--top-p") { Description = "Nucleus sampling: keep the most likely tokens up to this total probability (1 = off).", DefaultValueFactory = _ => 1f };
    public readonly Option<int> TopK = new("--top-k") { Description = "Keep only the K most likely tokens (0 = off).", DefaultValueFactory = _ => 0 };
    public readonly Option<ulong> Seed = new("--seed") { Description = "Random seed; the same seed reproduces the same text.", DefaultValueFactory = _ => 42UL };
    public readonly Option<string[]> Stop = new("--stop")
    {
        Description = "Stop when this text appears in the output (repeat for several); the output is cut before it, and it may span several tokens.",
        HelpName = "text",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };
    public readonly Option<bool> Special = new("--special") { Description = "Print special and control tokens (<s>, </s>, <|im_end|>, <|endoftext|>, ...) as text; by default they are left out of the output." };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in (Option[])[MaxTokens, Temperature, TopP, TopK, Seed, Stop, Special])
            command.Options.Add(option);
    }

    /// <summary>The request the options describe, checked.</summary>
    public CompletionRequest Read(ParseResult parse)
    {
        var sampling = new Kernels.Sampling.SamplingOptions(parse.GetValue(Temperature), parse.GetValue(TopK), parse.GetValue(TopP), parse.GetValue(Seed));
        sampling.Validate();
        int n = parse.GetValue(MaxTokens);
        if (n < 0) throw new ArgumentException($"--max-tokens must be ≥ 0, got {n}");
        string[] stops = parse.GetValue(Stop) ?? Array.Empty<string>();
        foreach (string s in stops)
            if (s.Length == 0) throw new ArgumentException("--stop needs a non-empty string");
        return new CompletionRequest
        {
            MaxTokens = n,
            Temperature = sampling.Temperature,
            TopK = sampling.TopK,
            TopP = sampling.TopP,
            Seed = sampling.Seed,
            Stop = stops,
            ShowSpecialTokens = parse.GetValue(Special),
        };
    }
}
