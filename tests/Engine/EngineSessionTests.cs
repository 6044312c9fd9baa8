using SpecCore.Engine;
using SpecCore.Kernels.Cpu;
using SpecCore.Models.Chat;

namespace SpecCore.Tests.Engine;

/// <summary>The engine API on the real stories2M (draft stories260K): prefix reuse across requests, cancellation,
/// streaming, and concurrent sessions that each produce their solo output.</summary>
public sealed class EngineSessionTests : IDisposable
{
    private readonly CpuBackend _backend = new(2);
    private readonly InferenceEngine _plain;
    private readonly InferenceEngine _speculative;

    public EngineSessionTests()
    {
        _plain = InferenceEngine.Load(new EngineOptions { Model = TestModels.Path("stories2M") }, _backend);
        _speculative = InferenceEngine.Load(new EngineOptions { Model = TestModels.Path("stories2M"), Draft = TestModels.Path("stories260K") }, _backend);
    }

    public void Dispose()
    {
        _plain.Dispose();
        _speculative.Dispose();
        _backend.Dispose();
    }

    private static readonly CompletionRequest Greedy32 = new() { MaxTokens = 32, IgnoreEos = true };

    private int[] Solo(InferenceEngine engine, int[] prompt, CompletionRequest request)
    {
        using EngineSession fresh = engine.OpenSession();
        return fresh.Complete(prompt, request).Tokens;
    }

    [Fact]
    public void ASecondRequestRunsOnlyItsNewTokens()
    {
        using EngineSession session = _speculative.OpenSession();
        int[] first = session.EncodePrompt("Once upon a time");
        CompletionResult r1 = session.Complete(first, Greedy32);
        Assert.Equal(0, r1.Usage.CachedPromptTokens);

        // The next turn: everything so far plus new text. Every token but at most the last output token (pending, not yet
        // run through the model, unless it was an accepted draft token) is in the cache.
        int[] more = _speculative.Tokenizer.Encode(" The end. One day,", addSpecialTokens: false);
        int[] second = [.. first, .. r1.Tokens, .. more];
        CompletionResult r2 = session.Complete(second, Greedy32);
        Assert.InRange(r2.Usage.CachedPromptTokens, first.Length + r1.Tokens.Length - 1, first.Length + r1.Tokens.Length);
        Assert.Equal(second.Length, r2.Usage.PromptTokens);
        Assert.Equal(Solo(_plain, second, Greedy32), r2.Tokens);
    }

    [Fact]
    public void ADivergingPromptCutsTheCacheBack()
    {
        using EngineSession session = _plain.OpenSession();
        int[] a = session.EncodePrompt("Once upon a time, there was a dog");
        int[] b = session.EncodePrompt("Once upon a time, there was a cat who");
        session.Complete(a, Greedy32);
        CompletionResult rb = session.Complete(b, Greedy32);
        int shared = 0;
        while (a[shared] == b[shared]) shared++;
        Assert.Equal(shared, rb.Usage.CachedPromptTokens);
        Assert.Equal(Solo(_plain, b, Greedy32), rb.Tokens);
    }

    [Fact]
    public void AChatTurnReusesThePreviousTurn()
    {
        using EngineSession session = _speculative.OpenSession();
        var messages = new List<ChatMessage> { new("user", "Tell me a story about a cat.") };
        var request = new CompletionRequest { MaxTokens = 24 };
        CompletionResult r1 = session.Chat(messages, request);
        int firstPrompt = r1.Usage.PromptTokens;
        messages.Add(new ChatMessage("assistant", r1.Text.Trim()));
        messages.Add(new ChatMessage("user", "And then?"));
        CompletionResult r2 = session.Chat(messages, request);
        Assert.True(r2.Usage.CachedPromptTokens >= firstPrompt, $"cached {r2.Usage.CachedPromptTokens} of the first turn's {firstPrompt} prompt tokens");
        Assert.True(r2.Usage.PromptTokens - r2.Usage.CachedPromptTokens < r2.Usage.PromptTokens / 2);
    }

    [Fact]
    public void CancellationStopsWithinOneRound()
    {
        using EngineSession session = _speculative.OpenSession();
        using var cancel = new CancellationTokenSource();
        int pieces = 0;
        CompletionResult r = session.Complete("Once upon a time", new CompletionRequest { MaxTokens = 200, IgnoreEos = true },
            _ => { if (++pieces == 5) cancel.Cancel(); }, cancel.Token);
        Assert.Equal(FinishReason.Cancelled, r.FinishReason);
        // A round emits at most the draft length plus one token after the one that cancelled.
        Assert.InRange(r.Tokens.Length, 5, 5 + 4 + 1);
        // The session stays usable and its cache consistent.
        int[] prompt = session.EncodePrompt("Once upon a time");
        Assert.Equal(Solo(_plain, prompt, Greedy32), session.Complete(prompt, Greedy32).Tokens);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextAndStopsWhenTheReaderLeaves()
    {
        using EngineSession session = _speculative.OpenSession();
        int[] prompt = session.EncodePrompt("Once upon a time");
        string whole = Solo(_plain, prompt, Greedy32) is var ids ? _plain.Tokenizer.Decode(ids, skipSpecialTokens: true) : "";
        var text = new System.Text.StringBuilder();
        CompletionResult? result = null;
        await foreach (CompletionChunk chunk in session.StreamAsync(prompt, Greedy32))
        {
            text.Append(chunk.Text);
            result ??= chunk.Result;
        }
        Assert.NotNull(result);
        Assert.Equal(whole, text.ToString());
        Assert.Equal(whole, result!.Text);
        Assert.Equal(FinishReason.Length, result.FinishReason);

        int seen = 0;
        await foreach (CompletionChunk chunk in session.StreamAsync(prompt, new CompletionRequest { MaxTokens = 200, IgnoreEos = true }))
            if (++seen == 3) break; // leaving the loop cancels the generation and waits for it
        Assert.Equal(Solo(_plain, prompt, Greedy32), session.Complete(prompt, Greedy32).Tokens);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EightConcurrentSessionsEachGiveTheirSoloOutput(bool speculative)
    {
        InferenceEngine engine = speculative ? _speculative : _plain;
        string[] prompts = ["Once upon a time", "The little dog", "Lily and Tom went", "One day, a bird", "The sun was", "Max had a big red", "There was a girl", "In the park,"];
        int[][] ids = prompts.Select(p => engine.Plan.EncodePrompt(p)).ToArray();
        int[][] solo = ids.Select(p => Solo(_plain, p, Greedy32)).ToArray();
        var outputs = new int[prompts.Length][];
        using var start = new Barrier(prompts.Length);
        var threads = Enumerable.Range(0, prompts.Length).Select(i => new Thread(() =>
        {
            using EngineSession session = engine.OpenSession();
            start.SignalAndWait();
            outputs[i] = session.Complete(ids[i], Greedy32).Tokens;
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(solo[i], outputs[i]);
        Assert.Equal(0, engine.Scheduler.Active);
    }

    [Fact]
    public async Task OneSessionServesOneRequestAtATime()
    {
        using EngineSession session = _plain.OpenSession();
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var first = Task.Run(() => session.Complete("Once", new CompletionRequest { MaxTokens = 8, IgnoreEos = true }, _ => { inside.Set(); release.Wait(); }));
        inside.Wait();
        Assert.Throws<InvalidOperationException>(() => session.Complete("Twice", Greedy32));
        release.Set();
        await first;
    }

    [Fact]
    public void BadRequestsAreRefusedClearly()
    {
        using EngineSession session = _plain.OpenSession();
        Assert.Contains("context holds 256", Assert.Throws<SpecCore.Speculation.Generation.GenerationException>(() =>
            session.Complete(new int[300], Greedy32)).Message);
        Assert.Throws<ArgumentException>(() => session.Complete("x", new CompletionRequest { MaxTokens = -1 }));
        Assert.Throws<ArgumentException>(() => session.Complete("x", new CompletionRequest { Stop = [""] }));
        Assert.ThrowsAny<ArgumentException>(() => session.Complete("x", new CompletionRequest { Temperature = -1 }));
        Assert.Equal(Solo(_plain, session.EncodePrompt("x"), Greedy32), session.Complete("x", Greedy32).Tokens);
    }
}
