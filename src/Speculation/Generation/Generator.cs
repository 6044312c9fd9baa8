using System.Diagnostics;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;
using SpecCore.Speculation.Verification;

namespace SpecCore.Speculation.Generation;

/// <summary>A prompt that does not fit the context, or another request the generator cannot serve.</summary>
public sealed class GenerationException(string message) : Exception(message);

/// <summary>Receives each generated token as it becomes final and may end the generation (a text-level stop, such
/// as a stop string, or a consumer that has seen enough).</summary>
public interface ITokenSink
{
    /// <summary>Takes the next output token; returns false to stop generating after it.</summary>
    bool OnToken(int token);
}

/// <summary>
/// The generation loop. Without a drafter it decodes one token per target pass. With a drafter each round
/// drafts a tree (a chain for k-token drafting) off the pending token, verifies it in one target pass, keeps
/// the accepted path in the KV cache (truncate or compact, no recompute) and emits the accepted tokens plus
/// one target token. With greedy sampling the output is token for token the target's own greedy output.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly TransformerModel _target;
    private readonly IDrafter? _drafter;
    private readonly IFeatureDrafter? _featureDrafter; // the drafter, when it reads the target's hidden states
    private readonly int[] _allRows;                   // [maxBatch + 1] 0, 1, 2, ...: a prefill chunk keeps every row
    private readonly InferenceState _state;
    private readonly int _maxNodes;
    private readonly int[] _history;  // tokens whose keys and values the target cache holds, in order (prefix reuse)
    private int _historyLength;

    /// <summary>Context a generator holds when none is asked for: the model's context, but at most this many tokens,
    /// so that a long-context model (128k positions) does not allocate its whole KV cache up front.</summary>
    public const int DefaultMaxContext = TransformerModel.DefaultContext;

    /// <summary>Creates a generator for <paramref name="target"/>, speculative when <paramref name="drafter"/> is given.
    /// The sequence is capped at the smaller context of the two and at <paramref name="contextSize"/> (default: the
    /// target's context, at most <see cref="DefaultMaxContext"/>); the KV cache is allocated for that many tokens.</summary>
    public Generator(TransformerModel target, IDrafter? drafter = null, int maxTreeNodes = 64, int? contextSize = null)
    {
        if (drafter != null && drafter.VocabSize != target.Config.VocabSize)
            throw new GenerationException($"the drafter '{drafter.Name}' has a vocabulary of {drafter.VocabSize} tokens but the target has {target.Config.VocabSize}: they must share a tokenizer");
        if (contextSize is int asked && (asked < 1 || asked > target.Config.MaxPositions))
            throw new GenerationException($"a context of {asked} tokens was asked for but the model holds 1 to {target.Config.MaxPositions}");
        _target = target;
        _drafter = drafter;
        int context = contextSize ?? target.DefaultCapacity;
        Capacity = Math.Min(context, drafter?.MaxSequenceLength ?? int.MaxValue);
        _maxNodes = Math.Clamp(maxTreeNodes, 1, 63);
        _featureDrafter = drafter as IFeatureDrafter is { FeatureRequest: not null } reader ? reader : null;
        _state = target.CreateState(Capacity, maxBatch: 64, _featureDrafter?.FeatureRequest);
        _allRows = new int[_state.MaxBatch + 1];
        for (int i = 0; i < _allRows.Length; i++) _allRows[i] = i;
        _history = new int[Capacity + 1];
    }

    /// <summary>Keep the KV cache between calls: a prompt that starts with tokens of the previous call's prompt and
    /// output runs only the tokens after that shared prefix (a chat turn prefills only its new tokens), and the cache is
    /// cut back where the prompt diverges. Off by default: each call then starts from an empty cache.</summary>
    public bool ReusePrefix { get; init; }

    /// <summary>Turns on a model shared with other generators (null: this generator has the backend to itself). Each
    /// prefill chunk, plain step and speculative round runs inside one turn, so the drafter's and the verifier's work of a
    /// round is never interleaved with another generator's, and learned state shared through the options (the draft-length
    /// policy) is only touched inside a turn.</summary>
    public IRoundScheduler? Scheduler { get; init; }

    /// <summary>Tokens whose keys and values the target's cache holds after the last call (prompt and output, in order).</summary>
    public ReadOnlySpan<int> CachedTokens => _history.AsSpan(0, _historyLength);

    /// <summary>Longest sequence (prompt plus output) this generator can hold.</summary>
    public int Capacity { get; }

    /// <summary>The drafter, if speculative.</summary>
    public IDrafter? Drafter => _drafter;

    /// <summary>The target's run state (its KV cache), for tests.</summary>
    public InferenceState TargetState => _state;

    /// <summary>A deliberate verifier error, for tests that prove the losslessness tests can fail.</summary>
    internal VerifierFault VerifierFault { get; set; }

    /// <summary>Generates a continuation of <paramref name="prompt"/>, calling <paramref name="onToken"/> as each token is
    /// final. Generation ends at a stop token (the target's EOS ids and <see cref="GenerationOptions.StopTokens"/>, unless
    /// <see cref="GenerationOptions.IgnoreEos"/>), after the most new tokens, or when the context is full. Returns the
    /// generated tokens (without the stop token) and statistics.</summary>
    public (int[] Tokens, GenerationStats Stats) Generate(ReadOnlySpan<int> prompt, GenerationOptions options, Action<int>? onToken = null) =>
        Generate(prompt, options, onToken, null);

    /// <summary>Generates like <see cref="Generate(ReadOnlySpan{int}, GenerationOptions, Action{int})"/>, handing each final
    /// token to <paramref name="sink"/>; when the sink returns false the generation stops there
    /// (<see cref="StopReason.StopString"/>) and the token it was given is the last one returned.</summary>
    public (int[] Tokens, GenerationStats Stats) Generate(ReadOnlySpan<int> prompt, GenerationOptions options, ITokenSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return Generate(prompt, options, null, sink);
    }

    private (int[] Tokens, GenerationStats Stats) Generate(ReadOnlySpan<int> prompt, GenerationOptions options, Action<int>? onToken, ITokenSink? sink)
    {
        if (prompt.IsEmpty) throw new GenerationException("the prompt is empty: at least one token (usually BOS) is needed");
        if (prompt.Length >= Capacity)
            throw new GenerationException($"the prompt has {prompt.Length} tokens but the context holds {Capacity} (prompt plus at least one new token)");
        if (options.MaxNewTokens < 0) throw new GenerationException("max tokens must not be negative");
        foreach (int t in prompt)
            if ((uint)t >= (uint)_target.Config.VocabSize) throw new GenerationException($"prompt token {t} is outside the vocabulary of {_target.Config.VocabSize}");

        TreeSpec? treeSpec = _drafter != null ? options.Tree : null;
        if (treeSpec is { NeedsProfile: true })
            throw new GenerationException($"the tree '{treeSpec.Text}' needs an acceptance profile of the model pair: TreeSpec.WithProfile(AcceptanceProfile.Load(\"profiles/<target>__<draft>.json\"))");
        var stats = new GenerationStats { PromptTokens = prompt.Length, Drafter = _drafter?.Name, Tree = treeSpec?.ToString() };
        var output = new List<int>(options.MaxNewTokens);
        var sequence = new int[Capacity + 1];
        prompt.CopyTo(sequence);
        int length = prompt.Length;
        if (options.MaxNewTokens == 0) return (Array.Empty<int>(), stats);

        // Stop tokens as a lookup table, so the per-token check is one array read.
        var isStop = new bool[_target.Config.VocabSize];
        if (!options.IgnoreEos)
        {
            foreach (int id in _target.Config.EosIds)
                if ((uint)id < (uint)isStop.Length) isStop[id] = true;
            foreach (int id in options.StopTokens)
                if ((uint)id < (uint)isStop.Length) isStop[id] = true;
        }

        var sampler = new Sampler(_target.Config.VocabSize, options.Sampling);
        // Reuse the cached prefix the prompt shares with the last call, less at least one token: the last prompt token must
        // run through the model for its logits.
        int reused = 0;
        if (ReusePrefix)
        {
            int limit = Math.Min(_historyLength, prompt.Length - 1);
            while (reused < limit && _history[reused] == prompt[reused]) reused++;
        }
        _historyLength = 0; // until this call ends, the cache is in flux
        _state.Cache.Truncate(reused);
        if (reused == 0) _drafter?.Reset(); // a drafter catches up or cuts back to the shared prefix by itself
        _drafter?.UseSampling(options.Sampling);
        stats.ReusedPromptTokens = reused;
        CancellationToken cancel = options.Cancellation;

        // Plain steps sample on the backend: only the token id (and one uniform) cross the bus.
        var uniform = new float[1];
        var next = new int[1];
        long start = Stopwatch.GetTimestamp();
        int last = reused + (prompt.Length - 1 - reused) / _state.MaxBatch * _state.MaxBatch; // start of the last prefill chunk
        for (int i = reused; i < last; i += _state.MaxBatch)
        {
            if (!EnterTurn(cancel)) return Cancelled(stats, output, sequence, i);
            try
            {
                _target.Forward(_state, prompt.Slice(i, _state.MaxBatch), default, LogitsRows.Last);
                ReportPass(i, prompt.Slice(i, _state.MaxBatch), _allRows.AsSpan(0, _state.MaxBatch));
            }
            finally { ExitTurn(); }
        }
        if (!EnterTurn(cancel)) return Cancelled(stats, output, sequence, last);
        try
        {
            sampler.DrawUniforms(uniform);
            _target.ForwardSample(_state, prompt[last..], default, options.Sampling, uniform, next);
            ReportPass(last, prompt[last..], _allRows.AsSpan(0, prompt.Length - last));
        }
        finally { ExitTurn(); }
        int pending = next[0];
        stats.PrefillSeconds = Seconds(start);
        long decodeStart = Stopwatch.GetTimestamp();

        bool Emit(int token)
        {
            if (isStop[token])
            {
                stats.StopReason = StopReason.StopToken;
                return false;
            }
            output.Add(token);
            onToken?.Invoke(token);
            if (sink != null && !sink.OnToken(token))
            {
                stats.StopReason = StopReason.StopString;
                return false;
            }
            if (output.Count >= options.MaxNewTokens)
            {
                stats.StopReason = StopReason.MaxTokens;
                return false;
            }
            return true;
        }

        bool running = Emit(pending);
        sequence[length++] = pending;

        DraftTree? tree = _drafter != null ? new DraftTree(_maxNodes, _target.Config.VocabSize, options.Sampling.IsGreedy ? 0 : _maxNodes) : null;
        var verifier = new TreeVerifier(sampler) { Fault = VerifierFault };
        var result = new VerificationResult(_maxNodes);
        var batch = new int[_maxNodes + 1];
        var keep = new int[_maxNodes + 1];
        bool afterPlainSteps = false;

        while (running)
        {
            if (!EnterTurn(cancel))
            {
                stats.StopReason = StopReason.Cancelled;
                break;
            }
            int accepted;
            try
            {
                int prefix = _state.Cache.Length; // = length - 1: every token but the pending one is cached
                int room = Capacity - prefix;     // slots for the pending token plus drafts
                if (room < 1 || length > Capacity)
                {
                    stats.StopReason = StopReason.ContextFull;
                    running = false;
                    continue; // the finally ends the turn
                }

                int wanted = options.MaxNewTokens - output.Count; // tokens still to emit
                int k = 0;
                long draftStart = Stopwatch.GetTimestamp();
                tree?.Clear();
                if (tree != null && room > 1 && wanted > 1)
                {
                    if (treeSpec != null)
                    {
                        k = Math.Min(treeSpec.MaxDepth, room - 1);
                        int nodes = Math.Min(treeSpec.NodeBudget, Math.Min(_maxNodes, room - 1));
                        _drafter!.Propose(sequence.AsSpan(0, length), new DraftRequest(k, nodes, treeSpec), tree);
                    }
                    else
                    {
                        k = Math.Min(options.DraftLength.Choose(), room - 1);
                        int nodes = Math.Min(options.TreeNodes ?? k, Math.Min(_maxNodes, room - 1));
                        if (k > 0) _drafter!.Propose(sequence.AsSpan(0, length), new DraftRequest(k, nodes), tree);
                    }
                }
                double draftSeconds = Seconds(draftStart);
                int drafted = tree?.Count ?? 0;

                long verifyStart = Stopwatch.GetTimestamp();
                batch[0] = pending;
                if (drafted > 0)
                {
                    tree!.Tokens.CopyTo(batch.AsSpan(1));
                    ReadOnlySpan<float> logits = _target.Forward(_state, batch.AsSpan(0, drafted + 1), tree.BatchParents(), LogitsRows.All);
                    verifier.Verify(tree, logits, result);
                    if (result.InvalidDraft) stats.InvalidDraftRounds++;
                }
                else
                {
                    sampler.DrawUniforms(uniform);
                    _target.ForwardSample(_state, batch.AsSpan(0, 1), default, options.Sampling, uniform, next);
                    result = PlainStep(result, next[0]);
                }
                double verifySeconds = Seconds(verifyStart);

                // Keep the pending token and the accepted path; drop the rest of the batch from the cache.
                accepted = result.AcceptedCount;
                keep[0] = 0;
                for (int i = 0; i < accepted; i++) keep[i + 1] = result.AcceptedNodes[i] + 1;
                _state.Cache.Compact(prefix, keep.AsSpan(0, accepted + 1));
                ReportPass(prefix, batch.AsSpan(0, drafted + 1), keep.AsSpan(0, accepted + 1));

                stats.Rounds++;
                if (drafted > 0)
                {
                    stats.DraftedTokens += drafted;
                    stats.VerifiedTokens += drafted + 1;
                    stats.AcceptedTokens += accepted;
                    stats.MaxAcceptedPathLength = Math.Max(stats.MaxAcceptedPathLength, accepted);
                    stats.AcceptedLengthHistogram[Math.Min(accepted, 64)]++;
                    int tried = accepted + (result.IsBonus ? 0 : 1);
                    stats.TriedPositions += tried;
                    int depth = treeSpec != null ? tree!.MaxDepth : k; // trees: the depth actually drafted
                    stats.DraftLengthSum += depth;
                    stats.DraftLengthHistogram[Math.Min(depth, 64)]++;
                    stats.DraftSeconds += draftSeconds;
                    // The first round's draft time includes the drafter's prefill of the prompt, and a round after plain steps
                    // its catch-up on the tokens those steps produced: neither is a per-step cost.
                    if (treeSpec != null) { }
                    else if (stats.Rounds > 1 && !afterPlainSteps) options.DraftLength.Record(k, tried, accepted, draftSeconds, verifySeconds);
                    else options.DraftLength.RecordAcceptance(tried, accepted);
                    afterPlainSteps = false;
                }
                else if (_drafter != null && treeSpec == null && options.DraftLength.IsAdaptive)
                {
                    // Auto chose a plain step (k = 0), or there was no room to draft: either way, the cost to beat.
                    options.DraftLength.RecordPlain(verifySeconds);
                    stats.DraftLengthHistogram[0]++;
                    afterPlainSteps = true;
                }
                stats.VerifySeconds += verifySeconds;
            }
            finally
            {
                ExitTurn();
            }

            for (int i = 0; i < accepted && running; i++)
            {
                int token = tree!.Tokens[result.AcceptedNodes[i]];
                running = Emit(token);
                sequence[length++] = token;
            }
            if (!running) break;
            pending = result.NextToken;
            running = Emit(pending);
            sequence[length++] = pending;
        }

        stats.GeneratedTokens = output.Count;
        stats.DecodeSeconds = Seconds(decodeStart);
        Remember(sequence, length);
        return (output.ToArray(), stats);
    }

    // The cache holds the first Cache.Length tokens of the sequence, except where the output stopped inside an accepted
    // draft run: then the cache holds more rows than the sequence has tokens, and only the sequence's are valid.
    private void Remember(int[] sequence, int length)
    {
        _historyLength = Math.Min(_state.Cache.Length, length);
        sequence.AsSpan(0, _historyLength).CopyTo(_history);
    }

    private (int[] Tokens, GenerationStats Stats) Cancelled(GenerationStats stats, List<int> output, int[] sequence, int cached)
    {
        stats.StopReason = StopReason.Cancelled;
        stats.GeneratedTokens = output.Count;
        _state.Cache.Truncate(cached);
        Remember(sequence, cached);
        return (output.ToArray(), stats);
    }

    private bool EnterTurn(CancellationToken cancel)
    {
        if (cancel.IsCancellationRequested) return false;
        return Scheduler == null || Scheduler.Enter(cancel);
    }

    private void ExitTurn() => Scheduler?.Exit();

    /// <summary>Hands a target pass's features to a drafter that reads them.</summary>
    private void ReportPass(int startPosition, ReadOnlySpan<int> tokens, ReadOnlySpan<int> keptRows)
    {
        if (_featureDrafter != null) _featureDrafter.OnTargetPass(new TargetPass(_state.Features!, startPosition, tokens, keptRows));
    }

    private static VerificationResult PlainStep(VerificationResult result, int token)
    {
        result.Clear();
        result.NextToken = token;
        result.IsBonus = true;
        return result;
    }

    private static double Seconds(long since) => Stopwatch.GetElapsedTime(since).TotalSeconds;

    /// <inheritdoc />
    public void Dispose() => _state.Dispose();
}
