using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models.Chat;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;

namespace SpecCore.Engine;

/// <summary>
/// One conversation or client on an <see cref="InferenceEngine"/>: it owns a KV cache (and a drafter's) and keeps it
/// between requests, so a request whose prompt starts with the previous prompt and output (the next chat turn) runs
/// only its new tokens; where a prompt diverges the cache is cut back to the shared prefix. A session serves one
/// request at a time; open one session per concurrent client.
/// </summary>
public sealed class EngineSession : IDisposable
{
    private readonly InferenceEngine _engine;
    private readonly Generator _generator;
    private readonly IDrafter? _drafter;
    private int _busy;
    private bool _disposed;

    internal EngineSession(InferenceEngine engine, IDrafter? drafter)
    {
        _engine = engine;
        _drafter = drafter;
        _generator = new Generator(engine.Target.Model, drafter, contextSize: engine.Capacity)
        {
            ReusePrefix = true,
            Scheduler = engine.Scheduler,
        };
    }

    /// <summary>The engine this session runs on.</summary>
    public InferenceEngine Engine => _engine;

    /// <summary>Tokens the session's cache holds after its last request (prompt and output).</summary>
    public int CachedTokens => _generator.CachedTokens.Length;

    /// <summary>Tokenizes a completion prompt as the model expects (BOS added when the model wants it).</summary>
    public int[] EncodePrompt(string prompt) => _engine.Plan.EncodePrompt(prompt);

    /// <summary>Tokenizes a conversation rendered with the chat template, ready to generate the assistant's reply.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions? options = null) => _engine.EncodeChat(messages, options);

    /// <summary>Continues <paramref name="prompt"/> (text; BOS added as the model expects), calling <paramref name="onText"/>
    /// with each new piece of text as it becomes final.</summary>
    public CompletionResult Complete(string prompt, CompletionRequest request, Action<string>? onText = null, CancellationToken cancellation = default) =>
        Run(EncodePrompt(prompt), request, onText, cancellation);

    /// <summary>Continues the token ids <paramref name="prompt"/>.</summary>
    public CompletionResult Complete(ReadOnlySpan<int> prompt, CompletionRequest request, Action<string>? onText = null, CancellationToken cancellation = default) =>
        Run(prompt.ToArray(), request, onText, cancellation);

    /// <summary>Generates the assistant's reply to <paramref name="messages"/>; the reply ends at the chat format's end of
    /// turn. The next call with this conversation plus the reply and a new message prefills only the new part.</summary>
    public CompletionResult Chat(IReadOnlyList<ChatMessage> messages, CompletionRequest request, Action<string>? onText = null,
        CancellationToken cancellation = default, ChatTemplateOptions? templateOptions = null) =>
        Run(EncodeChat(messages, templateOptions), request with { IsChatReply = true }, onText, cancellation);

    /// <summary>Streams the continuation of <paramref name="prompt"/> token ids; the last chunk carries the result. Ending
    /// the enumeration early (or cancelling) stops the generation within one round.</summary>
    public IAsyncEnumerable<CompletionChunk> StreamAsync(int[] prompt, CompletionRequest request, CancellationToken cancellation = default) =>
        Stream(prompt, request, cancellation);

    /// <summary>Generates on a thread of its own (the generator is synchronous and waits for its turns on the model), so
    /// that an async caller such as a web server does not tie up its thread pool.</summary>
    public Task<CompletionResult> CompleteAsync(int[] prompt, CompletionRequest request, Action<string>? onText = null, CancellationToken cancellation = default) =>
        Task.Factory.StartNew(() => Run(prompt, request, onText, cancellation), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private async IAsyncEnumerable<CompletionChunk> Stream(int[] prompt, CompletionRequest request, [EnumeratorCancellation] CancellationToken cancellation)
    {
        var channel = Channel.CreateUnbounded<CompletionChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        // The generator is synchronous and holds a thread for the whole request (it waits for its turns on the model).
        Task worker = Task.Factory.StartNew(() =>
        {
            try
            {
                CompletionResult result = Run(prompt, request, text => channel.Writer.TryWrite(new CompletionChunk(text, null)), stop.Token);
                channel.Writer.TryWrite(new CompletionChunk("", result));
                channel.Writer.TryComplete();
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await foreach (CompletionChunk chunk in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return chunk;
        }
        finally
        {
            stop.Cancel(); // the consumer left early: end the generation at its next round
            await worker.ConfigureAwait(false);
        }
    }

    private CompletionResult Run(int[] prompt, CompletionRequest request, Action<string>? onText, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0) throw new InvalidOperationException("this session is already generating: open one session per concurrent request");
        try
        {
            var sampling = new SamplingOptions(request.Temperature, request.TopK, request.TopP, request.Seed);
            sampling.Validate();
            if (request.MaxTokens < 0) throw new ArgumentException($"max tokens must not be negative, got {request.MaxTokens}");
            foreach (string s in request.Stop)
                if (string.IsNullOrEmpty(s)) throw new ArgumentException("a stop string must not be empty");
            if (prompt.Length + 1 > _generator.Capacity)
                throw new GenerationException($"the prompt has {prompt.Length} tokens but the context holds {_generator.Capacity} (prompt plus at least one new token)");

            var stops = new List<string>(request.Stop);
            bool chat = request.IsChatReply;
            if (chat && !_engine.HasChatTemplate) stops.Add(PlainTranscript.Stop);
            var options = new GenerationOptions
            {
                MaxNewTokens = request.MaxTokens,
                Sampling = sampling,
                StopTokens = chat ? _engine.ChatStopTokens : _engine.Tokenizer.EosIds,
                IgnoreEos = request.IgnoreEos,
                DraftLength = _engine.DraftLength,
                Tree = _engine.Tree,
                Cancellation = cancellation,
            };
            var text = new StringBuilder();
            var writer = new PieceWriter(text, onText);
            var streamer = new TextStreamer(_engine.Tokenizer.CreateStreamingDecoder(skipSpecialTokens: !request.ShowSpecialTokens), writer, stops);
            streamer.Prime(prompt);
            var (tokens, stats) = _generator.Generate(prompt, options, streamer);
            streamer.Finish();
            var result = new CompletionResult
            {
                Text = text.ToString(),
                Tokens = tokens,
                FinishReason = stats.StopReason switch
                {
                    StopReason.StopToken or StopReason.StopString => FinishReason.Stop,
                    StopReason.Cancelled => FinishReason.Cancelled,
                    _ => FinishReason.Length,
                },
                Usage = new Usage(prompt.Length, tokens.Length, stats.ReusedPromptTokens),
                Stats = stats,
            };
            _engine.Metrics.Record(result);
            return result;
        }
        catch
        {
            _engine.Metrics.RecordFailure();
            throw;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Frees the session's caches.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _generator.Dispose();
        _drafter?.Dispose();
    }

    // Collects the streamer's text and hands each flushed piece to the caller.
    private sealed class PieceWriter(StringBuilder all, Action<string>? onPiece) : TextWriter
    {
        private readonly StringBuilder _pending = new();

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value) => _pending.Append(value);

        public override void Write(string? value) => _pending.Append(value);

        public override void Write(ReadOnlySpan<char> buffer) => _pending.Append(buffer);

        public override void Flush()
        {
            if (_pending.Length == 0) return;
            string piece = _pending.ToString();
            _pending.Clear();
            all.Append(piece);
            onPiece?.Invoke(piece);
        }
    }
}
