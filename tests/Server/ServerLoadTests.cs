using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SpecCore.Engine;
using Xunit.Abstractions;

namespace SpecCore.Tests.Server;

/// <summary>Valid clients mixed with malformed requests, oversized bodies, slow clients and abrupt disconnects, bounded in
/// count and time: every valid response is exact and no slot is left held afterwards. Latencies go to the test output.</summary>
[Collection("server")]
public sealed class ServerLoadTests(ServerFixture fx, ITestOutputHelper output)
{
    private static readonly string[] Prompts = ["Once upon a time", "The little dog", "Lily and Tom went", "One day, a bird", "The sun was", "Max had a big red"];

    [Fact]
    public async Task MixedTrafficKeepsValidResponsesExactAndLeaksNoSlot()
    {
        var expected = new Dictionary<string, string>();
        foreach (string p in Prompts)
        {
            using EngineSession s = fx.Engine.OpenSession(speculative: false);
            expected[p] = s.Complete(p, new CompletionRequest { MaxTokens = 20 }).Text;
        }

        var latencies = new List<double>();
        var firstTokens = new List<double>();
        async Task Valid(string prompt, bool stream)
        {
            var watch = Stopwatch.StartNew();
            string body = $$"""{"prompt":"{{prompt}}","max_tokens":20,"temperature":0,"stream":{{(stream ? "true" : "false")}}}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using HttpResponseMessage r = await fx.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            string text;
            if (stream)
            {
                var sb = new StringBuilder();
                using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
                double? first = null;
                while (await reader.ReadLineAsync() is string line)
                {
                    if (!line.StartsWith("data: ") || line == "data: [DONE]") continue;
                    string piece = JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
                    if (piece.Length > 0) first ??= watch.Elapsed.TotalMilliseconds;
                    sb.Append(piece);
                }
                text = sb.ToString();
                lock (firstTokens) firstTokens.Add(first ?? watch.Elapsed.TotalMilliseconds);
            }
            else text = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
            Assert.Equal(expected[prompt], text);
            lock (latencies) latencies.Add(watch.Elapsed.TotalMilliseconds);
        }

        async Task Malformed(int i)
        {
            string[] bodies = ["{", "{\"prompt\": 5}", "{\"messages\": [{}]}", "null", "{\"prompt\":\"x\",\"max_tokens\":1e99}", new string('[', 5000) + new string(']', 5000)];
            string path = i % 2 == 0 ? "/v1/completions" : "/v1/chat/completions";
            using HttpResponseMessage r = await fx.Http.PostAsync(path, new StringContent(bodies[i % bodies.Length], Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains("\"error\"", await r.Content.ReadAsStringAsync());
        }

        async Task Oversized()
        {
            // Its own connection: the server closes it after refusing the unread body.
            using var own = new HttpClient { BaseAddress = new Uri(fx.Url) };
            using HttpResponseMessage r = await own.PostAsync("/v1/completions", new StringContent("{\"prompt\":\"" + new string('x', 200_000) + "\"}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        }

        // A client that sends its body a few bytes at a time, then reads the answer.
        async Task Slow()
        {
            var uri = new Uri(fx.Url);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(uri.Host, uri.Port);
            using NetworkStream net = tcp.GetStream();
            byte[] body = Encoding.UTF8.GetBytes("""{"prompt":"Once upon a time","max_tokens":20,"temperature":0}""");
            await net.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: {uri.Host}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"));
            for (int i = 0; i < body.Length; i += 8)
            {
                await net.WriteAsync(body.AsMemory(i, Math.Min(8, body.Length - i)));
                await Task.Delay(20);
            }
            string reply = await new StreamReader(net).ReadToEndAsync();
            Assert.StartsWith("HTTP/1.1 200", reply);
            string json = reply[(reply.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
            Assert.Equal(expected["Once upon a time"], JsonDocument.Parse(json).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        }

        // A client that goes away mid-stream, or right after sending its request.
        async Task Abrupt(int i)
        {
            var uri = new Uri(fx.Url);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(uri.Host, uri.Port);
            NetworkStream net = tcp.GetStream();
            byte[] body = Encoding.UTF8.GetBytes("""{"prompt":"Once upon a time","max_tokens":200,"temperature":0.7,"stream":true}""");
            await net.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: {uri.Host}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"));
            await net.WriteAsync(body);
            if (i % 2 == 0) _ = await net.ReadAsync(new byte[256]); // some of the answer, then gone
            tcp.Client.LingerState = new LingerOption(true, 0); // reset, not a polite close
            tcp.Close();
        }

        var tasks = new List<Task>();
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < Prompts.Length; i++) tasks.Add(Valid(Prompts[i], stream: (i + round) % 2 == 0));
            for (int i = 0; i < 4; i++) tasks.Add(Malformed(round * 4 + i));
            tasks.Add(Oversized());
            tasks.Add(Slow());
            tasks.Add(Abrupt(round));
            tasks.Add(Abrupt(round + 1));
        }
        Task all = Task.WhenAll(tasks);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromMinutes(3))));
        await all;
        await fx.WaitIdle();

        latencies.Sort();
        firstTokens.Sort();
        output.WriteLine($"{latencies.Count} valid requests of 20 tokens among {tasks.Count}: latency p50 {Percentile(latencies, 0.5):F0} ms, p99 {Percentile(latencies, 0.99):F0} ms; " +
            $"streamed time to first text p50 {Percentile(firstTokens, 0.5):F0} ms, p99 {Percentile(firstTokens, 0.99):F0} ms");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task TimeToFirstTokenAndThroughput(int clients)
    {
        // Not an assertion on speed (machines differ): the figures go to the test output for the notes.
        var ttft = new double[clients];
        var tokens = new int[clients];
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var start = Stopwatch.StartNew();
            string body = $$$"""{"prompt":"{{{Prompts[c % Prompts.Length]}}}","max_tokens":64,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using HttpResponseMessage r = await fx.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is string line)
            {
                if (!line.StartsWith("data: {")) continue;
                JsonElement e = JsonDocument.Parse(line[6..]).RootElement;
                if (ttft[c] == 0 && e.GetProperty("choices").GetArrayLength() > 0 && e.GetProperty("choices")[0].GetProperty("text").GetString()!.Length > 0)
                    ttft[c] = start.Elapsed.TotalMilliseconds;
                if (e.TryGetProperty("usage", out JsonElement u)) tokens[c] = u.GetProperty("completion_tokens").GetInt32();
            }
        }));
        double seconds = watch.Elapsed.TotalSeconds;
        Assert.All(tokens, t => Assert.True(t > 0));
        Array.Sort(ttft);
        output.WriteLine($"{clients} concurrent client(s), stories2M <- stories260K: time to first token p50 {Percentile(ttft.ToList(), 0.5):F0} ms, " +
            $"{tokens.Sum()} tokens in {seconds:F2} s = {tokens.Sum() / seconds:F0} tok/s in all, {tokens.Sum() / seconds / clients:F0} tok/s per client");
        await fx.WaitIdle();
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
}
