using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SpecCore.Engine;
using SpecCore.Speculation.Generation;

namespace SpecCore.Server;

/// <summary>
/// The OpenAI-compatible HTTP API over an <see cref="InferenceEngine"/> (ASP.NET Core minimal APIs): <c>GET /v1/models</c>,
/// <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c> (with <c>stream: true</c> as server-sent events ending in
/// <c>[DONE]</c>), <c>GET /health</c>, <c>GET /metrics</c> (Prometheus text) and a chat page at <c>/</c>. Each request gets
/// a session of its own from a fixed set of slots; bad requests get OpenAI-style JSON errors with 4xx codes.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly InferenceEngine _engine;
    private readonly ServerOptions _options;
    private readonly SessionPool _pool;
    private readonly ServerMetrics _metrics = new();
    private readonly string _modelId;
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private OpenAiServer(InferenceEngine engine, ServerOptions options)
    {
        _engine = engine;
        _options = options;
        _modelId = options.ModelId ?? engine.Name;
        _pool = new SessionPool(engine, options.Slots, options.MaxQueue);

        IPAddress address = options.Host switch
        {
            "localhost" => IPAddress.Loopback,
            "*" => IPAddress.Any,
            _ => IPAddress.TryParse(options.Host, out IPAddress? a) ? a : throw new ArgumentException($"--host must be an IP address (127.0.0.1, ::1, 0.0.0.0) or localhost, got '{options.Host}'"),
        };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });
        _app = builder.Build();
        _app.Use(JsonStatusPages);
        _app.MapGet("/", ChatPage);
        _app.MapGet("/health", Health);
        _app.MapGet("/metrics", Metrics);
        _app.MapGet("/v1/models", Models);
        _app.MapPost("/v1/completions", context => Generate(context, chat: false));
        _app.MapPost("/v1/chat/completions", context => Generate(context, chat: true));
    }

    /// <summary>Starts listening; returns once the port is bound.</summary>
    /// <exception cref="ArgumentException">A bad host or option.</exception>
    /// <exception cref="IOException">The port is taken.</exception>
    public static async Task<OpenAiServer> StartAsync(InferenceEngine engine, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Slots < 1 || options.Slots > 256) throw new ArgumentException($"--slots must be 1 to 256, got {options.Slots}");
        if (options.Port < 0 || options.Port > 65535) throw new ArgumentException($"--port must be 0 to 65535, got {options.Port}");
        var server = new OpenAiServer(engine, options);
        await server._app.StartAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>The port the server listens on.</summary>
    public int Port => new Uri(Url).Port;

    /// <summary>The base address, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Requests waiting for a slot now.</summary>
    public int QueueDepth => _pool.Waiting;

    /// <summary>Requests holding a slot now.</summary>
    public int Running => _pool.Running;

    /// <summary>Waits until the server stops (Ctrl+C or <paramref name="cancellation"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    /// <summary>Stops listening and frees the sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _pool.Dispose();
    }

    // 404 and 405 from routing have empty bodies: give them the API's error shape.
    private async Task JsonStatusPages(HttpContext context, RequestDelegate next)
    {
        await next(context).ConfigureAwait(false);
        HttpResponse r = context.Response;
        if (r.HasStarted || r.ContentLength != null || r.StatusCode is not (404 or 405)) return;
        var error = r.StatusCode == 404
            ? new ApiError(404, $"no such endpoint: {context.Request.Method} {context.Request.Path} (try /v1/chat/completions, /v1/completions, /v1/models)", code: "not_found")
            : new ApiError(405, $"{context.Request.Method} is not allowed on {context.Request.Path}", code: "method_not_allowed");
        _metrics.Count(KnownEndpoint(context.Request.Path), r.StatusCode);
        await WriteError(context, error).ConfigureAwait(false);
    }

    // Metrics label only the API's own paths, so that clients probing random paths cannot grow the label set.
    private static string KnownEndpoint(PathString path) =>
        path.Value is "/" or "/health" or "/metrics" or "/v1/models" or "/v1/completions" or "/v1/chat/completions" ? path.Value : "other";

    private static Task ChatPage(HttpContext context)
    {
        using Stream page = typeof(OpenAiServer).Assembly.GetManifestResourceStream("SpecCore.Server.index.html")!;
        using var reader = new StreamReader(page);
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(reader.ReadToEnd());
    }

    private Task Health(HttpContext context) =>
        WriteJson(context, 200, w =>
        {
            w.WriteString("status", "ok");
            w.WriteString("model", _modelId);
            w.WriteNumber("slots", _pool.Slots);
            w.WriteNumber("running", _pool.Running);
            w.WriteNumber("waiting", _pool.Waiting);
        });

    private Task Metrics(HttpContext context)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return context.Response.WriteAsync(_metrics.Render(_engine, _pool));
    }

    private Task Models(HttpContext context)
    {
        _metrics.Count("/v1/models", 200);
        return WriteJson(context, 200, w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", _modelId);
            w.WriteString("object", "model");
            w.WriteNumber("created", _created);
            w.WriteString("owned_by", "speccore");
            w.WriteNumber("context_length", _engine.Capacity);
            w.WriteEndObject();
            w.WriteEndArray();
        });
    }

    private async Task Generate(HttpContext context, bool chat)
    {
        string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
        CancellationToken aborted = context.RequestAborted;
        bool streaming = false;
        try
        {
            byte[] body = await ReadBody(context).ConfigureAwait(false);
            ApiRequest api = ApiRequest.Parse(body, chat);
            if (api.Model != null && api.Model != _modelId)
                throw new ApiError(404, $"the model '{Short(api.Model)}' does not exist: this server serves '{_modelId}' (see /v1/models)", "model", "model_not_found");
            int[] prompt = chat ? EncodeChat(api) : EncodePrompt(api);
            if (prompt.Length + 1 > _engine.Capacity)
                throw new ApiError(400, $"the prompt has {prompt.Length} tokens but the context holds {_engine.Capacity} (prompt plus at least one new token)",
                    chat ? "messages" : "prompt", "context_length_exceeded");
            int room = _engine.Capacity - prompt.Length;
            // Without max_tokens a completion is short (OpenAI's legacy default is 16) and a chat reply runs to its end of turn.
            int maxTokens = api.HasMaxTokens ? Math.Min(api.Request.MaxTokens, room) : chat ? room : Math.Min(16, room);
            CompletionRequest request = api.Request with { MaxTokens = maxTokens };

            using SessionPool.Lease lease = await _pool.AcquireAsync(prompt, aborted).ConfigureAwait(false);
            string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            CompletionResult? result = null;
            try
            {
                if (api.Stream)
                {
                    streaming = true;
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "text/event-stream";
                    context.Response.Headers.CacheControl = "no-cache";
                    context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                    await context.Response.StartAsync(aborted).ConfigureAwait(false);
                    if (chat) await WriteEvent(context, Chunk(id, created, chat, role: true, text: "", finish: null), aborted).ConfigureAwait(false);
                    await foreach (CompletionChunk piece in lease.Session.StreamAsync(prompt, request, aborted).ConfigureAwait(false))
                    {
                        if (piece.Text.Length > 0)
                            await WriteEvent(context, Chunk(id, created, chat, role: false, text: piece.Text, finish: null), aborted).ConfigureAwait(false);
                        result ??= piece.Result;
                    }
                    if (result == null || result.FinishReason == FinishReason.Cancelled) { _metrics.CountDisconnect(); return; }
                    await WriteEvent(context, Chunk(id, created, chat, role: false, text: "", finish: Finish(result)), aborted).ConfigureAwait(false);
                    if (api.IncludeUsage) await WriteEvent(context, UsageChunk(id, created, chat, result.Usage), aborted).ConfigureAwait(false);
                    await context.Response.WriteAsync("data: [DONE]\n\n", aborted).ConfigureAwait(false);
                    await context.Response.Body.FlushAsync(aborted).ConfigureAwait(false);
                }
                else
                {
                    result = await lease.Session.CompleteAsync(prompt, request, null, aborted).ConfigureAwait(false);
                    if (result.FinishReason == FinishReason.Cancelled) { _metrics.CountDisconnect(); return; }
                    await WriteJson(context, 200, w => WriteCompletion(w, id, created, chat, result)).ConfigureAwait(false);
                }
                _metrics.Count(endpoint, 200);
            }
            finally
            {
                lease.Remember(prompt, result);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            _metrics.CountDisconnect();
        }
        catch (Exception e) when (!aborted.IsCancellationRequested)
        {
            ApiError error = e switch
            {
                ApiError a => a,
                EngineBusyException => new ApiError(503, "the server is " + e.Message, type: "server_error", code: "server_busy"),
                BadHttpRequestException { StatusCode: 413 } => new ApiError(413, $"the body is larger than {_options.MaxBodyBytes} bytes", code: "request_too_large"),
                BadHttpRequestException b => new ApiError(b.StatusCode, b.Message),
                GenerationException or ArgumentException => new ApiError(400, e.Message),
                InvalidDataException => new ApiError(400, e.Message, chat ? "messages" : "prompt"),
                _ => new ApiError(500, $"{e.GetType().Name}: {e.Message}", type: "server_error"),
            };
            _metrics.Count(endpoint, error.Status);
            // The unread rest of an oversized body makes the connection unusable: say so, so clients do not reuse it.
            if (error.Status == 413) context.Response.Headers.Connection = "close";
            if (!streaming) await WriteError(context, error).ConfigureAwait(false);
            else if (!aborted.IsCancellationRequested)
            {
                // The status line is gone already: say it in the stream, as OpenAI does.
                await WriteEvent(context, ErrorBody(error), CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task<byte[]> ReadBody(HttpContext context)
    {
        if (context.Request.ContentLength is long length && length > _options.MaxBodyBytes)
            throw new ApiError(413, $"the body is larger than {_options.MaxBodyBytes} bytes", code: "request_too_large");
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
        if (buffer.Length == 0) throw new ApiError(400, "the body is empty: a JSON object is expected");
        return buffer.ToArray();
    }

    private int[] EncodePrompt(ApiRequest api)
    {
        if (api.PromptTokens is int[] ids)
        {
            foreach (int id in ids)
                if (id >= _engine.Target.Config.VocabSize) throw new ApiError(400, $"'prompt' token {id} is outside the vocabulary of {_engine.Target.Config.VocabSize}", "prompt");
            return ids;
        }
        return _engine.Plan.EncodePrompt(api.Prompt ?? "");
    }

    private int[] EncodeChat(ApiRequest api)
    {
        try
        {
            return _engine.EncodeChat(api.Messages!);
        }
        catch (InvalidDataException e)
        {
            throw new ApiError(400, $"the chat template refused the conversation: {e.Message}", "messages");
        }
    }

    private static string Finish(CompletionResult r) => r.FinishReason == FinishReason.Stop ? "stop" : "length";

    private void WriteCompletion(Utf8JsonWriter w, string id, long created, bool chat, CompletionResult r)
    {
        w.WriteString("id", id);
        w.WriteString("object", chat ? "chat.completion" : "text_completion");
        w.WriteNumber("created", created);
        w.WriteString("model", _modelId);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", r.Text);
            w.WriteEndObject();
        }
        else
        {
            w.WriteString("text", r.Text);
        }
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", Finish(r));
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, r.Usage);
    }

    private static void WriteUsage(Utf8JsonWriter w, Usage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", u.PromptTokens);
        w.WriteNumber("completion_tokens", u.CompletionTokens);
        w.WriteNumber("total_tokens", u.TotalTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", u.CachedPromptTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    // The fields every streamed chunk starts with.
    private void WriteChunkHead(Utf8JsonWriter w, string id, long created, bool chat)
    {
        w.WriteString("id", id);
        w.WriteString("object", chat ? "chat.completion.chunk" : "text_completion");
        w.WriteNumber("created", created);
        w.WriteString("model", _modelId);
    }

    private byte[] Chunk(string id, long created, bool chat, bool role, string text, string? finish) => Json(w =>
    {
        WriteChunkHead(w, id, created, chat);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("delta");
            if (role) w.WriteString("role", "assistant");
            if (role || text.Length > 0) w.WriteString("content", text);
            w.WriteEndObject();
        }
        else
        {
            w.WriteString("text", text);
        }
        w.WriteNull("logprobs");
        if (finish != null) w.WriteString("finish_reason", finish);
        else w.WriteNull("finish_reason");
        w.WriteEndObject();
        w.WriteEndArray();
    });

    private byte[] UsageChunk(string id, long created, bool chat, Usage usage) => Json(w =>
    {
        WriteChunkHead(w, id, created, chat);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        WriteUsage(w, usage);
    });

    private static byte[] ErrorBody(ApiError e) => Json(w =>
    {
        w.WriteStartObject("error");
        w.WriteString("message", e.Message.Length <= 1000 ? e.Message : e.Message[..1000]);
        w.WriteString("type", e.Type);
        if (e.Param != null) w.WriteString("param", e.Param); else w.WriteNull("param");
        if (e.Code != null) w.WriteString("code", e.Code); else w.WriteNull("code");
        w.WriteEndObject();
    });

    // Text as it is (no \u0027 for quotes): the bodies are JSON for API clients, never embedded in HTML.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static async Task WriteEvent(HttpContext context, byte[] json, CancellationToken cancellation)
    {
        var body = context.Response.Body;
        await body.WriteAsync("data: "u8.ToArray(), cancellation).ConfigureAwait(false);
        await body.WriteAsync(json, cancellation).ConfigureAwait(false);
        await body.WriteAsync("\n\n"u8.ToArray(), cancellation).ConfigureAwait(false);
        await body.FlushAsync(cancellation).ConfigureAwait(false);
    }

    private static Task WriteJson(HttpContext context, int status, Action<Utf8JsonWriter> body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        byte[] bytes = Json(body);
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }

    private static Task WriteError(HttpContext context, ApiError error)
    {
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        byte[] bytes = ErrorBody(error);
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }

    private static string Short(string text) => text.Length <= 60 ? text : text[..60] + "...";
}
