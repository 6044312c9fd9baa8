using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Models.Chat;
using SpecCore.Models.Registry;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Heads;
using SpecCore.Speculation.Trees;

namespace SpecCore.Engine;

/// <summary>
/// A loaded model ready to serve: the target with its drafter (a draft model or prompt lookup), tokenizer, chat template
/// and stop set, resolved from a model name, folder or repo id. It opens <see cref="EngineSession"/>s, which share the
/// loaded weights and take turns on the backend through one <see cref="FairScheduler"/>; each session has its own KV
/// cache. The CLI, the server and the <c>IChatClient</c> all go through this class.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly LoadedModel _target;
    private readonly LoadedModel? _draft;
    private readonly bool _lookup;
    private readonly ChatTemplate? _template;
    private readonly string? _templateError;
    private readonly string? _heads;
    private readonly SpecCore.Tensors.DType? _weightType;
    private int _disposed;

    private InferenceEngine(LoadedModel target, LoadedModel? draft, bool lookup, string? heads, SpecCore.Tensors.DType? weightType, EnginePlan plan,
        string directory, DraftLengthPolicy draftLength, TreeSpec? tree, ChatTemplate? template, string? templateError)
    {
        _heads = heads;
        _weightType = weightType;
        Plan = plan;
        _target = target;
        _draft = draft;
        _lookup = lookup;
        Directory = directory;
        DraftLength = draftLength;
        Tree = tree;
        _template = template;
        _templateError = templateError;
        ChatStopTokens = EndOfTurnTokens(plan.Tokenizer);
    }

    /// <summary>Loads the target (and drafter) of <paramref name="options"/> onto <paramref name="backend"/>, which the engine
    /// uses but does not own. Everything the files say is checked before weights are read (context, tokenizer against
    /// the vocabulary); errors name the file and field. <paramref name="beforeWeights"/>, when given, is called with the
    /// plan at that point, so a caller can refuse its request before the slow part.</summary>
    /// <exception cref="ArgumentException">Contradictory or out-of-range options.</exception>
    /// <exception cref="InvalidDataException">A malformed model file.</exception>
    public static InferenceEngine Load(EngineOptions options, IBackend backend, Action<EnginePlan>? beforeWeights = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backend);
        if ((options.Draft != null ? 1 : 0) + (options.Drafter != null ? 1 : 0) + (options.Heads != null ? 1 : 0) > 1)
            throw new ArgumentException("give one of --draft (a model), --drafter lookup or --heads, not several");
        if (options.Drafter != null && !options.Drafter.Equals("lookup", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"unknown drafter '{options.Drafter}' (expected: lookup)");
        DraftLengthPolicy policy = DraftLengthPolicy.Parse(options.DraftLength);
        bool lookup = options.Drafter != null;

        var registry = ModelRegistry.Load();
        string targetDir = registry.Resolve(options.Model);
        string? draftDir = options.Draft != null ? registry.Resolve(options.Draft) : null;
        ModelConfig config = ModelConfig.Load(targetDir);
        int context = ContextSize(options.ContextSize, config.MaxPositions);
        int capacity = draftDir != null ? Math.Min(context, ModelConfig.Load(draftDir).MaxPositions) : context;
        ITextTokenizer tokenizer = TokenizerLoader.Load(targetDir);
        TokenizerLoader.CheckMatchesModel(tokenizer, config.VocabSize, targetDir);

        TreeSpec? tree = null;
        if (options.Tree is string treeText)
        {
            if (draftDir == null && !lookup && options.Heads == null) throw new ArgumentException("--tree needs --draft, --drafter lookup or --heads");
            tree = TreeSpec.Parse(treeText);
        }

        (ChatTemplate? template, string? templateError) = LoadTemplate(targetDir);
        var plan = new EnginePlan(config, tokenizer, capacity);
        beforeWeights?.Invoke(plan);

        if (options.Heads != null) HeadDrafters.Detect(options.Heads); // a missing or unreadable head file is refused before the weights load
        LoadedModel target = LoadedModel.Load(targetDir, backend, options.WeightType, options.KvType);
        LoadedModel? draft = null;
        try
        {
            draft = draftDir != null ? LoadedModel.Load(draftDir, backend, options.WeightType, options.KvType) : null;
            if (tree is { NeedsProfile: true })
            {
                string profilePath = options.TreeProfile
                    ?? Path.Combine(AppContext.BaseDirectory, "profiles", AcceptanceProfile.FileName(target.Name, draft?.Name
                        ?? (options.Heads != null ? Path.GetFileName(Path.TrimEndingDirectorySeparator(options.Heads)) : "lookup")));
                if (!File.Exists(profilePath))
                    throw new FileNotFoundException($"no acceptance profile for a sequoia tree at {profilePath}; give one with --tree-profile (profiles are measured by 'dotnet run --project bench -- profiles')");
                tree = tree.WithProfile(AcceptanceProfile.Load(profilePath));
            }
            if (draft != null && draft.Config.VocabSize != config.VocabSize)
                throw new ArgumentException($"the draft model {draft.Name} has a vocabulary of {draft.Config.VocabSize} tokens but the target {target.Name} has {config.VocabSize}: they must share a tokenizer");
            var engine = new InferenceEngine(target, draft, lookup, options.Heads != null ? Path.GetFullPath(options.Heads) : null, options.WeightType,
                plan, targetDir, policy, tree, template, templateError);
            if (engine._heads != null) engine.OpenSession().Dispose(); // load the head once now, so a bad file fails here
            return engine;
        }
        catch
        {
            draft?.Dispose();
            target.Dispose();
            throw;
        }
    }

    /// <summary>The context a session gets: <paramref name="asked"/> or the default, never more than the model's (the
    /// errors name the CLI's and the server's <c>--ctx-size</c>, where the number comes from).</summary>
    public static int ContextSize(int? asked, int modelContext)
    {
        if (asked is not int n) return Math.Min(modelContext, TransformerModel.DefaultContext);
        if (n < 1) throw new ArgumentException($"--ctx-size must be at least 1, got {n}");
        if (n > modelContext) throw new ArgumentException($"--ctx-size {n} is more than the model's context of {modelContext} tokens");
        return n;
    }

    /// <summary>The target's name (its folder's name).</summary>
    public string Name => _target.Name;

    /// <summary>The target's folder.</summary>
    public string Directory { get; }

    /// <summary>The target.</summary>
    public LoadedModel Target => _target;

    /// <summary>The draft model, or null.</summary>
    public LoadedModel? DraftModel => _draft;

    /// <summary>The target's configuration, tokenizer and session capacity.</summary>
    public EnginePlan Plan { get; }

    /// <summary>The target's tokenizer.</summary>
    public ITextTokenizer Tokenizer => Plan.Tokenizer;

    /// <summary>Tokens a session holds (prompt plus output).</summary>
    public int Capacity => Plan.Capacity;

    /// <summary>Whether sessions decode speculatively.</summary>
    public bool IsSpeculative => _draft != null || _lookup || _heads != null;

    /// <summary>The drafter's name for statistics, or null.</summary>
    public string? DrafterName => _draft != null ? "draft:" + _draft.Name : _lookup ? "lookup" : _heads != null ? "heads:" + Path.GetFileName(_heads) : null;

    /// <summary>The draft-length policy of this model pair. It learns from every session's rounds (costs and acceptance
    /// belong to the pair, not to one request) and is only touched inside scheduler turns.</summary>
    public DraftLengthPolicy DraftLength { get; }

    /// <summary>The token-tree setting, or null for chains.</summary>
    public TreeSpec? Tree { get; }

    /// <summary>The one scheduler of this engine's backend.</summary>
    public FairScheduler Scheduler { get; } = new();

    /// <summary>Running totals over all sessions.</summary>
    public EngineMetrics Metrics { get; } = new();

    /// <summary>Whether the model has a chat template (otherwise chats are rendered as a plain transcript).</summary>
    public bool HasChatTemplate => _template != null;

    /// <summary>Why the chat template is missing or unusable, or null.</summary>
    public string? ChatTemplateProblem => _templateError;

    /// <summary>End-of-turn tokens of chat formats present in the vocabulary (<c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>, ...),
    /// which end a chat reply besides the model's EOS ids.</summary>
    public IReadOnlyList<int> ChatStopTokens { get; }

    /// <summary>Opens a session with its own KV cache, speculative when the engine has a drafter and
    /// <paramref name="speculative"/> is true.</summary>
    public EngineSession OpenSession(bool speculative = true)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        IDrafter? drafter = !speculative ? null
            : _draft != null ? new DraftModelDrafter(_draft.Model, SpecCore.Kernels.Sampling.SamplingOptions.Greedy, "draft:" + _draft.Name, Capacity)
            : _lookup ? new PromptLookupDrafter(_target.Config.VocabSize)
            // Each session loads its own copy of the head (a few MB): its drafter owns it.
            : _heads != null ? HeadDrafters.Create(_heads, _target.Model, SpecCore.Kernels.Sampling.SamplingOptions.Greedy, Capacity, _weightType)
            : null;
        return new EngineSession(this, drafter);
    }

    /// <summary>Renders a conversation to the prompt text with the model's chat template (or the plain transcript).</summary>
    /// <exception cref="InvalidDataException">The template failed on this conversation; the message names the line.</exception>
    public string RenderChat(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new ArgumentException("a chat needs at least one message");
        if (_template != null) return _template.Render(messages, addGenerationPrompt: true, options);
        return PlainTranscript.Render(messages);
    }

    /// <summary>Tokenizes a conversation rendered with <see cref="RenderChat"/>, ready to generate the assistant's reply (a
    /// template writes BOS itself, so nothing is added; the plain transcript gets BOS as the model expects).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions? options = null)
    {
        string text = RenderChat(messages, options);
        int[] ids = Tokenizer.Encode(text, addSpecialTokens: _template == null);
        if (ids.Length == 0 && Target.Config.BosId is int bos) ids = [bos];
        return ids;
    }

    private static (ChatTemplate?, string?) LoadTemplate(string directory)
    {
        try
        {
            return (ChatTemplate.Load(directory), null);
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException)
        {
            return (null, e.Message);
        }
    }

    private static int[] EndOfTurnTokens(ITextTokenizer tokenizer)
    {
        var ids = new List<int>();
        foreach (string text in (string[])["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "<|end|>", "</s>"])
        {
            int[] encoded = tokenizer.Encode(text, addSpecialTokens: false);
            if (encoded.Length == 1 && tokenizer.TokenToString(encoded[0]) == text && !ids.Contains(encoded[0])) ids.Add(encoded[0]);
        }
        foreach (int id in tokenizer.EosIds)
            if (!ids.Contains(id)) ids.Add(id);
        return ids.ToArray();
    }

    /// <summary>Frees the loaded weights. Sessions must be disposed first.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _draft?.Dispose();
        _target.Dispose();
    }
}
