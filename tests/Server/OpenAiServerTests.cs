using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenAI;
using OpenAI.Chat;
using SpecCore.Cli;
using SpecCore.Engine;

namespace SpecCore.Tests.Server;

/// <summary><c>speccore serve</c> in process on a loopback port, driven by the official OpenAI client and raw HTTP.</summary>
[Collection("server")]
public sealed class OpenAiServerTests(ServerFixture fx)
{
    private ChatClient Chat() => new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(fx.Url + "/v1") })
        .GetChatClient(fx.Engine.Name);

    /// <summary>What <c>speccore generate</c> prints for the prompt (greedy), without the echoed prompt.</summary>
    private static string CliGreedy(string prompt, int tokens)
    {
        var output = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), ["generate", "--model", TestModels.Path("stories2M"), "--prompt", prompt, "-n", tokens.ToString(),
            "--device", "cpu"], new StringWriter(), output);
        Assert.Equal(0, code);
        string text = output.ToString();
        Assert.StartsWith(prompt, text);
        return text[prompt.Length..].TrimEnd('\n', '\r');
    }

    private async Task<JsonElement> PostJson(string path, string body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using HttpResponseMessage r = await fx.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        string text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"{(int)r.StatusCode} for {body}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task CompletionsEqualTheCliGreedyOutput()
    {
        const string prompt = "Once upon a time";
        string cli = CliGreedy(prompt, 40);
        JsonElement r = await PostJson("/v1/completions", $$"""{"model":"stories2M","prompt":"{{prompt}}","max_tokens":40,"temperature":0}""");
        Assert.Equal(cli, r.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("length", r.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(40, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("text_completion", r.GetProperty("object").GetString());

        // Streamed: the same text, chunk by chunk, ending in [DONE].
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = new StringContent($$"""{"prompt":"{{prompt}}","max_tokens":40,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using HttpResponseMessage response = await fx.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var text = new StringBuilder();
        foreach (string e in events[..^1])
        {
            Assert.StartsWith("data: ", e);
            text.Append(JsonDocument.Parse(e[6..]).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        }
        Assert.Equal(cli, text.ToString());
    }

    [Fact]
    public async Task TheOpenAiClientChatsStreamedAndNot()
    {
        var messages = new List<OpenAI.Chat.ChatMessage> { new UserChatMessage("Tell me about a dog.") };
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 30 };
        // The reference: the engine's own greedy chat reply on a fresh session.
        using EngineSession session = fx.Engine.OpenSession(speculative: false);
        CompletionResult expected = session.Chat([new("user", "Tell me about a dog.")], new CompletionRequest { MaxTokens = 30 });

        ChatCompletion completion = (await Chat().CompleteChatAsync(messages, options)).Value;
        Assert.Equal(expected.Text, completion.Content[0].Text);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(expected.Tokens.Length, completion.Usage.OutputTokenCount);
        Assert.Equal(expected.Usage.PromptTokens, completion.Usage.InputTokenCount);
        Assert.Equal(expected.FinishReason == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, completion.FinishReason);

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (StreamingChatCompletionUpdate update in Chat().CompleteChatStreamingAsync(messages, options))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(expected.Text, streamed.ToString());
        Assert.NotNull(finish);
    }

    [Fact]
    public async Task EightConcurrentClientsEachGetTheirOwnOutput()
    {
        string[] prompts = ["Once upon a time", "The little dog", "Lily and Tom went", "One day, a bird", "The sun was", "Max had a big red", "There was a girl", "In the park,"];
        string[] expected = new string[prompts.Length];
        for (int i = 0; i < prompts.Length; i++)
        {
            using EngineSession s = fx.Engine.OpenSession(speculative: false);
            expected[i] = s.Complete(prompts[i], new CompletionRequest { MaxTokens = 24, IgnoreEos = false }).Text;
        }
        Task<JsonElement>[] calls = prompts.Select(p => PostJson("/v1/completions", $$"""{"prompt":"{{p}}","max_tokens":24,"temperature":0}""")).ToArray();
        JsonElement[] results = await Task.WhenAll(calls);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], results[i].GetProperty("choices")[0].GetProperty("text").GetString());
        await fx.WaitIdle();
    }

    [Fact]
    public async Task AClientThatDisconnectsMidStreamFreesItsSlot()
    {
        for (int round = 0; round < 3; round++)
        {
            using var cts = new CancellationTokenSource();
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent("""{"messages":[{"role":"user","content":"Tell me a long story"}],"max_tokens":200,"temperature":0.8,"stream":true}""", Encoding.UTF8, "application/json"),
            };
            HttpResponseMessage response = await fx.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Stream body = await response.Content.ReadAsStreamAsync(cts.Token);
            var buffer = new byte[64];
            Assert.True(await body.ReadAsync(buffer, cts.Token) > 0);
            cts.Cancel();
            response.Dispose();
        }
        await fx.WaitIdle();
        JsonElement r = await PostJson("/v1/completions", """{"prompt":"Once upon a time","max_tokens":8,"temperature":0}""");
        Assert.Equal(8, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("/v1/chat/completions", "{\"messages\": [", 400, "invalid_json")]                                   // malformed JSON
    [InlineData("/v1/chat/completions", "[1,2,3]", 400, null)]                                                      // not an object
    [InlineData("/v1/chat/completions", "", 400, null)]                                                             // empty body
    [InlineData("/v1/chat/completions", "{\"max_tokens\":5}", 400, null)]                                            // no messages
    [InlineData("/v1/chat/completions", "{\"messages\":\"hi\"}", 400, null)]                                         // wrong type
    [InlineData("/v1/chat/completions", "{\"messages\":[]}", 400, null)]                                             // empty conversation
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, null)]       // unknown role
    [InlineData("/v1/chat/completions", "{\"messages\":[{\"content\":\"x\"}]}", 400, null)]                          // no role
    [InlineData("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, "model_not_found")]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":0}", 400, null)]                                // max_tokens <= 0
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":-5}", 400, null)]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":\"ten\"}", 400, null)]                          // wrong type
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"temperature\":7}", 400, null)]                               // out of range
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"top_p\":0}", 400, null)]
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"n\":3}", 400, null)]                                         // n != 1
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"stop\":[\"\"]}", 400, null)]                                 // empty stop
    [InlineData("/v1/completions", "{\"prompt\":\"x\",\"stream\":\"yes\"}", 400, null)]
    [InlineData("/v1/completions", "{\"prompt\":[99999999]}", 400, null)]                                            // token outside the vocabulary
    [InlineData("/v1/completions", "{\"max_tokens\":4}", 400, null)]                                                 // no prompt
    public async Task BadRequestsGetOpenAiErrorsAndTheServerKeepsServing(string path, string body, int status, string? code)
    {
        JsonElement error = (await PostJson(path, body, (HttpStatusCode)status)).GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(status >= 500 ? "server_error" : "invalid_request_error", error.GetProperty("type").GetString());
        if (code != null) Assert.Equal(code, error.GetProperty("code").GetString());
        await AnswersCorrectly();
    }

    [Fact]
    public async Task OversizedBodiesPromptsOverTheContextAndUnknownRoutesAreRefused()
    {
        string huge = "{\"prompt\":\"" + new string('a', 100_000) + "\"}";
        Assert.Equal("request_too_large", (await PostJson("/v1/completions", huge, HttpStatusCode.RequestEntityTooLarge)).GetProperty("error").GetProperty("code").GetString());
        string longPrompt = "{\"prompt\":\"" + string.Concat(Enumerable.Repeat("Once upon a time ", 200)) + "\"}";
        Assert.Equal("context_length_exceeded", (await PostJson("/v1/completions", longPrompt, HttpStatusCode.BadRequest)).GetProperty("error").GetProperty("code").GetString());
        using (HttpResponseMessage r = await fx.Http.GetAsync("/v1/chat/completions"))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, r.StatusCode);
            Assert.Contains("\"error\"", await r.Content.ReadAsStringAsync());
        }
        using (HttpResponseMessage r = await fx.Http.GetAsync("/v2/engines"))
        {
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.Contains("\"error\"", await r.Content.ReadAsStringAsync());
        }
        await AnswersCorrectly();
    }

    [Fact]
    public async Task ModelsHealthAndMetrics()
    {
        JsonElement models = JsonDocument.Parse(await fx.Http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("stories2M", models.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal("ok", JsonDocument.Parse(await fx.Http.GetStringAsync("/health")).RootElement.GetProperty("status").GetString());
        await AnswersCorrectly();
        string metrics = await fx.Http.GetStringAsync("/metrics");
        var sample = new Regex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*=""[^""]*""(,[a-zA-Z_][a-zA-Z0-9_]*=""[^""]*"")*\})? -?[0-9.eE+\-]+(NaN)?$");
        var typed = new HashSet<string>();
        foreach (string line in metrics.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ")) { typed.Add(line.Split(' ')[2]); continue; }
            if (line.StartsWith("# HELP ")) continue;
            Assert.Matches(sample, line);
            Assert.Contains(Regex.Match(line, "^[a-zA-Z_:][a-zA-Z0-9_:]*").Value, typed);
        }
        foreach (string name in (string[])["speccore_requests_total", "speccore_prompt_tokens_total", "speccore_completion_tokens_total", "speccore_draft_acceptance_rate",
                     "speccore_draft_length_mean", "speccore_tokens_per_second", "speccore_queue_depth"])
            Assert.Contains(name, typed);
        Assert.Matches(@"speccore_completion_tokens_total [1-9]", metrics);
    }

    private async Task AnswersCorrectly()
    {
        JsonElement r = await PostJson("/v1/completions", """{"prompt":"Once upon a time","max_tokens":12,"temperature":0}""");
        using EngineSession s = fx.Engine.OpenSession(speculative: false);
        Assert.Equal(s.Complete("Once upon a time", new CompletionRequest { MaxTokens = 12 }).Text, r.GetProperty("choices")[0].GetProperty("text").GetString());
    }
}
