using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SpecCore.Tests.Server;

/// <summary>Debian's chromium, headless, driven over the DevTools protocol (a WebSocket, no extra packages): open a page
/// and evaluate JavaScript in it.</summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _page = new();
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>The chromium binary, or null when it is not installed.</summary>
    public static string? Find() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    public static async Task<HeadlessChromium> OpenAsync(string binary, string url)
    {
        string profile = Directory.CreateTempSubdirectory("speccore-chromium-").FullName;
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--remote-debugging-port=0", "--user-data-dir=" + profile, url])
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        var browser = new HeadlessChromium(process, profile);
        try
        {
            // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
            string? port = null;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (port == null && DateTime.UtcNow < deadline)
            {
                string? line = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                if (line == null) throw new InvalidOperationException("chromium exited before it opened DevTools");
                Match m = Regex.Match(line, @"DevTools listening on ws://[^:]+:(\d+)/");
                if (m.Success) port = m.Groups[1].Value;
            }
            if (port == null) throw new TimeoutException("chromium did not open DevTools in 30 s");
            _ = process.StandardError.ReadToEndAsync(); // keep draining
            using var http = new HttpClient();
            string? pageSocket = null;
            for (int i = 0; i < 100 && pageSocket == null; i++)
            {
                JsonElement targets = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json")).RootElement;
                foreach (JsonElement t in targets.EnumerateArray())
                    if (t.GetProperty("type").GetString() == "page") pageSocket = t.GetProperty("webSocketDebuggerUrl").GetString();
                if (pageSocket == null) await Task.Delay(100);
            }
            await browser._page.ConnectAsync(new Uri(pageSocket ?? throw new InvalidOperationException("chromium opened no page")), CancellationToken.None);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page (awaiting a promise) and returns its value as JSON.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        int id = ++_nextId;
        string command = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["id"] = id,
            ["method"] = "Runtime.evaluate",
            ["params"] = new Dictionary<string, object> { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true },
        }, CdpJson.Default.DictionaryStringObject);
        await _page.SendAsync(Encoding.UTF8.GetBytes(command), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult r;
            do
            {
                r = await _page.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
                message.Write(buffer, 0, r.Count);
            } while (!r.EndOfMessage);
            JsonElement reply = JsonDocument.Parse(message.ToArray()).RootElement;
            if (!reply.TryGetProperty("id", out JsonElement got) || got.GetInt32() != id) continue; // an event
            JsonElement result = reply.GetProperty("result");
            if (result.TryGetProperty("exceptionDetails", out JsonElement ex)) throw new InvalidOperationException("page script failed: " + ex);
            return result.GetProperty("result").TryGetProperty("value", out JsonElement value) ? value.Clone() : default;
        }
    }

    /// <summary>Evaluates <paramref name="condition"/> until it is true.</summary>
    public async Task WaitForAsync(string condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if ((await EvaluateAsync(condition)).ValueKind == JsonValueKind.True) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"the page never met: {condition}");
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_page.State == WebSocketState.Open) await _page.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None); } catch (WebSocketException) { }
        _page.Dispose();
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
internal sealed partial class CdpJson : System.Text.Json.Serialization.JsonSerializerContext;
