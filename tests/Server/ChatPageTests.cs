using SpecCore.Engine;

namespace SpecCore.Tests.Server;

/// <summary>The chat page at <c>/</c>, loaded in headless Chromium: one message round-trips through the streaming API.</summary>
[Collection("server")]
public sealed class ChatPageTests(ServerFixture fx)
{
    [Fact]
    public async Task OneMessageRoundTripsInHeadlessChromium()
    {
        string? chromium = HeadlessChromium.Find();
        if (chromium == null)
        {
            // CI installs Debian's chromium (.ci/run); a developer machine without it cannot run this check.
            Assert.True(Environment.GetEnvironmentVariable("CI") == null, "chromium is not installed: .ci/run installs Debian's chromium package");
            return;
        }
        await using HeadlessChromium page = await HeadlessChromium.OpenAsync(chromium, fx.Url + "/");
        await page.WaitForAsync("document.getElementById('model') && document.getElementById('model').textContent === 'stories2M'", TimeSpan.FromSeconds(30));
        await page.EvaluateAsync("document.getElementById('input').value = 'Tell me about a cat.'; document.getElementById('form').requestSubmit(); true");
        await page.WaitForAsync("(document.querySelector('.msg.assistant, .msg.error') || {dataset: {}}).dataset.done === 'true'", TimeSpan.FromSeconds(60));
        string className = (await page.EvaluateAsync("document.querySelector('.msg:last-child').className")).GetString()!;
        string reply = (await page.EvaluateAsync("document.querySelector('.msg:last-child').textContent")).GetString()!;
        Assert.Equal("msg assistant", className);

        // The page asks for a greedy reply of at most 256 tokens: the engine's own answer to the same conversation.
        using EngineSession session = fx.Engine.OpenSession(speculative: false);
        int[] prompt = session.EncodeChat([new("user", "Tell me about a cat.")]);
        CompletionResult expected = session.Chat([new("user", "Tell me about a cat.")], new CompletionRequest { MaxTokens = Math.Min(256, fx.Engine.Capacity - prompt.Length) });
        Assert.Equal(expected.Text, reply);
        Assert.Contains("tokens in", (await page.EvaluateAsync("document.getElementById('stats').textContent")).GetString());
    }
}
