using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = SpecCore.Models.Chat.ChatMessage;

namespace SpecCore.Engine;

/// <summary>
/// A local model behind <see cref="IChatClient"/> (Microsoft.Extensions.AI): each call renders the conversation with the
/// model's chat template and generates the reply on one of the client's sessions, so a follow-up call with the same
/// conversation plus new messages prefills only the new part. Maps <see cref="ChatOptions"/> (Temperature, TopP, TopK,
/// Seed, MaxOutputTokens, StopSequences), usage and finish reasons. Safe to call concurrently, up to the slot count at once.
/// </summary>
public sealed class SpecCoreChatClient : IChatClient
{
    private readonly InferenceEngine _engine;
    private readonly SessionPool _pool;
    private readonly ChatClientMetadata _metadata;

    /// <summary>Creates a client over <paramref name="engine"/> (which it does not own) with <paramref name="slots"/>
    /// sessions for calls that run at once.</summary>
    public SpecCoreChatClient(InferenceEngine engine, int slots = 1)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _pool = new SessionPool(engine, slots, maxQueue: int.MaxValue);
        _metadata = new ChatClientMetadata("speccore", null, engine.Name);
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        (int[] prompt, CompletionRequest request) = Prepare(messages, options);
        using SessionPool.Lease lease = await _pool.AcquireAsync(prompt, cancellationToken).ConfigureAwait(false);
        CompletionResult result = await lease.Session.CompleteAsync(prompt, request, null, cancellationToken).ConfigureAwait(false);
        lease.Remember(prompt, result);
        cancellationToken.ThrowIfCancellationRequested();
        return new ChatResponse(new AiChatMessage(ChatRole.Assistant, result.Text))
        {
            ModelId = _engine.Name,
            ResponseId = Guid.NewGuid().ToString("N"),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(result.FinishReason),
            Usage = ToUsage(result.Usage),
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        (int[] prompt, CompletionRequest request) = Prepare(messages, options);
        using SessionPool.Lease lease = await _pool.AcquireAsync(prompt, cancellationToken).ConfigureAwait(false);
        string id = Guid.NewGuid().ToString("N");
        CompletionResult? result = null;
        await foreach (CompletionChunk chunk in lease.Session.StreamAsync(prompt, request, cancellationToken).ConfigureAwait(false))
        {
            if (chunk.Text.Length > 0)
                yield return new ChatResponseUpdate(ChatRole.Assistant, chunk.Text) { ResponseId = id, ModelId = _engine.Name };
            result ??= chunk.Result;
        }
        lease.Remember(prompt, result);
        cancellationToken.ThrowIfCancellationRequested();
        if (result == null) yield break;
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(ToUsage(result.Usage))])
        {
            ResponseId = id,
            ModelId = _engine.Name,
            FinishReason = Finish(result.FinishReason),
        };
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(InferenceEngine)) return _engine;
        return null;
    }

    /// <summary>Frees the client's sessions (the engine stays loaded).</summary>
    public void Dispose() => _pool.Dispose();

    private (int[], CompletionRequest) Prepare(IEnumerable<AiChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var conversation = new List<TemplateMessage>();
        foreach (AiChatMessage m in messages) conversation.Add(new TemplateMessage(m.Role.Value, m.Text));
        int[] prompt = _engine.EncodeChat(conversation);
        if (prompt.Length + 1 > _engine.Capacity)
            throw new ArgumentException($"the conversation has {prompt.Length} tokens but the context holds {_engine.Capacity}");
        int room = _engine.Capacity - prompt.Length;
        var request = new CompletionRequest
        {
            MaxTokens = Math.Min(options?.MaxOutputTokens ?? room, room),
            Temperature = options?.Temperature ?? 0f,
            TopP = options?.TopP ?? 1f,
            TopK = options?.TopK ?? 0,
            Seed = options?.Seed is long seed ? unchecked((ulong)seed) : 42UL,
            Stop = options?.StopSequences is { } stops ? stops.ToArray() : [],
            IsChatReply = true,
        };
        return (prompt, request);
    }

    private static ChatFinishReason? Finish(FinishReason reason) => reason switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        _ => null,
    };

    private static UsageDetails ToUsage(Usage u) => new()
    {
        InputTokenCount = u.PromptTokens,
        OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.TotalTokens,
        CachedInputTokenCount = u.CachedPromptTokens,
    };
}
