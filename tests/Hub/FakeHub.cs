using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace SpecCore.Tests.Hub;

/// <summary>How the fake hub serves one file's bytes.</summary>
public enum Serving
{
    /// <summary>All of it, honouring a Range request.</summary>
    Normal,
    /// <summary>The first GET sends half the bytes and breaks the connection; later ones serve normally.</summary>
    BreakOnce,
    /// <summary>The bytes with one flipped (the ETag still names the right ones).</summary>
    Corrupt,
    /// <summary>Half the bytes, then nothing until the client gives up.</summary>
    Stall,
}

/// <summary>A Hugging Face hub on a loopback port, in the hub's URL layout: <c>GET /api/models/{repo}/revision/{rev}</c>,
/// <c>HEAD|GET /{repo}/resolve/{rev}/{file}</c> (LFS files, *.safetensors, answer with a 302 to <c>/cdn/{sha256}</c>
/// carrying <c>X-Linked-Etag</c>/<c>X-Linked-Size</c>, as the hub does), and records every request.</summary>
public sealed class FakeHub : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, byte[]> _files;
    private readonly Task _loop;

    public FakeHub(string repo, IReadOnlyDictionary<string, byte[]> files, bool serveApi = true)
    {
        Repo = repo;
        _files = new Dictionary<string, byte[]>(files);
        ServeApi = serveApi;
        Commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(repo + string.Join(",", files.Keys))));
        int port = FreePort();
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(AcceptLoop);
    }

    public string Repo { get; }
    public string Commit { get; }
    public string Endpoint { get; }
    public bool ServeApi { get; }
    public ConcurrentDictionary<string, Serving> Behaviour { get; } = new();

    /// <summary>Every request: method, path, Range header, Authorization header.</summary>
    public ConcurrentQueue<(string Method, string Path, string? Range, string? Auth)> Requests { get; } = new();

    private readonly ConcurrentDictionary<string, int> _gets = new();

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal);

    public static string Sha256(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public static string GitSha1(byte[] b) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {b.Length}\0"), .. b]));

    public string EtagOf(string file) => IsLfs(file) ? Sha256(_files[file]) : GitSha1(_files[file]);

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                continue;
            }
            _ = Task.Run(() => Handle(context));
        }
    }

    private async Task Handle(HttpListenerContext c)
    {
        HttpListenerRequest req = c.Request;
        HttpListenerResponse res = c.Response;
        string path = Uri.UnescapeDataString(req.Url!.AbsolutePath);
        Requests.Enqueue((req.HttpMethod, path, req.Headers["Range"], req.Headers["Authorization"]));
        try
        {
            string apiPrefix = $"/api/models/{Repo}/revision/";
            string resolvePrefix = $"/{Repo}/resolve/";
            if (path.StartsWith(apiPrefix, StringComparison.Ordinal))
            {
                if (!ServeApi) { Status(res, 404); return; }
                string siblings = string.Join(",", _files.Keys.Select(f => $"{{\"rfilename\":\"{f}\"}}"));
                byte[] body = Encoding.UTF8.GetBytes($"{{\"id\":\"{Repo}\",\"sha\":\"{Commit}\",\"siblings\":[{siblings}]}}");
                res.ContentType = "application/json";
                res.ContentLength64 = body.Length;
                await res.OutputStream.WriteAsync(body);
                res.Close();
                return;
            }
            if (path.StartsWith(resolvePrefix, StringComparison.Ordinal))
            {
                string rest = path[resolvePrefix.Length..];
                int slash = rest.IndexOf('/');
                string revision = rest[..slash], file = rest[(slash + 1)..];
                if ((revision != "main" && revision != Commit) || !_files.TryGetValue(file, out byte[]? bytes)) { Status(res, 404); return; }
                res.AddHeader("X-Repo-Commit", Commit);
                if (IsLfs(file))
                {
                    // The hub answers an LFS file with a redirect to its CDN, the file's facts in X-Linked-* headers.
                    res.AddHeader("X-Linked-Etag", $"\"{Sha256(bytes)}\"");
                    res.AddHeader("X-Linked-Size", bytes.Length.ToString());
                    res.AddHeader("ETag", "\"not-the-sha\"");
                    res.StatusCode = 302;
                    res.RedirectLocation = $"/cdn/{Sha256(bytes)}?file={Uri.EscapeDataString(file)}";
                    res.ContentLength64 = 0;
                    res.Close();
                    return;
                }
                res.AddHeader("ETag", $"\"{GitSha1(bytes)}\"");
                await Serve(req, res, file, bytes);
                return;
            }
            if (path.StartsWith("/cdn/", StringComparison.Ordinal))
            {
                string file = req.QueryString["file"]!;
                await Serve(req, res, file, _files[file]);
                return;
            }
            Status(res, 404);
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (HttpListenerException)
        {
        }
        catch (IOException)
        {
        }
    }

    private async Task Serve(HttpListenerRequest req, HttpListenerResponse res, string file, byte[] bytes)
    {
        Serving how = Behaviour.GetValueOrDefault(file, Serving.Normal);
        if (req.HttpMethod == "HEAD")
        {
            res.ContentLength64 = bytes.Length;
            res.Close();
            return;
        }
        int gets = _gets.AddOrUpdate(file, 1, (_, n) => n + 1);
        if (how == Serving.Corrupt)
        {
            bytes = (byte[])bytes.Clone();
            bytes[bytes.Length / 2] ^= 0x40;
        }
        long from = 0;
        string? range = req.Headers["Range"];
        if (range != null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            from = long.Parse(range["bytes=".Length..^1]);
        if (from > 0)
        {
            if (from >= bytes.Length) { Status(res, 416); return; }
            res.StatusCode = 206;
            res.AddHeader("Content-Range", $"bytes {from}-{bytes.Length - 1}/{bytes.Length}");
        }
        res.ContentLength64 = bytes.Length - from;
        Stream output = res.OutputStream;
        if ((how == Serving.BreakOnce && gets == 1) || how == Serving.Stall)
        {
            int half = (int)(bytes.Length - from) / 2;
            await output.WriteAsync(bytes.AsMemory((int)from, half));
            await output.FlushAsync();
            if (how == Serving.Stall)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token); } catch (OperationCanceledException) { }
            }
            res.Abort();
            return;
        }
        await output.WriteAsync(bytes.AsMemory((int)from));
        res.Close();
    }

    private static void Status(HttpListenerResponse res, int code)
    {
        res.StatusCode = code;
        res.ContentLength64 = 0;
        res.Close();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}
