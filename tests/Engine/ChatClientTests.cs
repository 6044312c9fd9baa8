using Microsoft.Extensions.AI;
using SpecCore.Engine;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Tests.Engine;

/// <summary><see cref="SpecCoreChatClient"/> through Microsoft.Extensions.AI's <see cref="ChatClientBuilder"/>.</summary>
public sealed class ChatClientTests : IDisposable
{
    private readonly CpuBackend _backend = new(2);
    private readonly InferenceEngine _engine;
    private readonly IChatClient _client;

    public ChatClientTests()
    {
        _engine = InferenceEngine.Load(new EngineOptions { Model = TestModels.Path("stories2M"), Draft = TestModels.Path("stories260K") }, _backend);
        _client = new ChatClientBuilder(new SpecCoreChatClient(_engine, slots: 2)).Build();
    }

    public void Dispose()
    {
        _client.Dispose();
        _engine.Dispose();
        _backend.Dispose();
    }

    private CompletionResult Reference(string user, int maxTokens, params string[] stops)
    {
        using EngineSession s = _engine.OpenSession(speculative: false);
        return s.Chat([new("user", user)], new CompletionRequest { MaxTokens = maxTokens, Stop = stops });
    }

    [Fact]
    public async Task GetResponseMapsOptionsUsageAndFinishReason()
    {
        CompletionResult expected = Reference("Tell me about a dog.", 20);
        ChatResponse response = await _client.GetResponseAsync("Tell me about a dog.", new ChatOptions { MaxOutputTokens = 20, Temperature = 0 });
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(expected.Usage.PromptTokens, response.Usage!.InputTokenCount);
        Assert.Equal(expected.Tokens.Length, response.Usage.OutputTokenCount);
        Assert.Equal(expected.Usage.TotalTokens, response.Usage.TotalTokenCount);
        Assert.Equal(_engine.Name, response.ModelId);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);

        // Stop sequences end the reply (and are left out of it).
        string stopAt = expected.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        ChatResponse stopped = await _client.GetResponseAsync("Tell me about a dog.", new ChatOptions { MaxOutputTokens = 20, StopSequences = [stopAt] });
        Assert.Equal(Reference("Tell me about a dog.", 20, stopAt).Text, stopped.Text);
        Assert.DoesNotContain(stopAt, stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextThenUsage()
    {
        CompletionResult expected = Reference("Tell me about a cat.", 24);
        var text = new System.Text.StringBuilder();
        UsageDetails? usage = null;
        ChatFinishReason? finish = null;
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync("Tell me about a cat.", new ChatOptions { MaxOutputTokens = 24 }))
        {
            text.Append(update.Text);
            finish ??= update.FinishReason;
            foreach (AIContent c in update.Contents)
                if (c is UsageContent u) usage = u.Details;
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.Equal(expected.Tokens.Length, usage!.OutputTokenCount);
        Assert.NotNull(finish);
    }

    [Fact]
    public async Task AFollowUpReusesTheConversationAndSamplingIsSeeded()
    {
        var history = new List<Microsoft.Extensions.AI.ChatMessage> { new(ChatRole.System, "You tell short stories."), new(ChatRole.User, "A story about a frog.") };
        ChatResponse first = await _client.GetResponseAsync(history, new ChatOptions { MaxOutputTokens = 16 });
        history.AddRange(first.Messages);
        history.Add(new(ChatRole.User, "And then?"));
        ChatResponse second = await _client.GetResponseAsync(history, new ChatOptions { MaxOutputTokens = 16 });
        Assert.True(second.Usage!.CachedInputTokenCount >= first.Usage!.InputTokenCount, $"cached {second.Usage.CachedInputTokenCount}");

        var sampled = new ChatOptions { MaxOutputTokens = 16, Temperature = 0.9f, TopP = 0.95f, TopK = 40, Seed = 7 };
        string a = (await _client.GetResponseAsync("A story about a frog.", sampled)).Text;
        string b = (await _client.GetResponseAsync("A story about a frog.", sampled)).Text;
        Assert.Equal(a, b);
        Assert.Same(_engine, _client.GetService<InferenceEngine>());
        Assert.Equal("speccore", _client.GetService<ChatClientMetadata>()!.ProviderName);
    }
}
