using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace SpecCore.Models.Hub;

/// <summary>HTTP access to a Hugging Face hub (or a mirror with the same URL layout): the revision API, file metadata
/// from HEAD requests on <c>/{repo}/resolve/{revision}/{file}</c>, and resumable downloads that fail when the
/// connection stalls.</summary>
public sealed class HubClient : IDisposable
{
    /// <summary>The public hub, used when <c>$HF_ENDPOINT</c> is not set.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    private const int MaxRedirects = 10;
    private readonly HttpClient _http;
    private readonly string? _token;

    /// <summary>A client for <paramref name="endpoint"/>; <paramref name="token"/> is sent as a Bearer token to the
    /// endpoint's host only (never to a CDN it redirects to). A read that gets no bytes for
    /// <paramref name="stallTimeout"/> fails the download.</summary>
    public HubClient(string endpoint, string? token, TimeSpan stallTimeout, HttpMessageHandler? handler = null)
    {
        if (!Uri.TryCreate(endpoint.TrimEnd('/') + "/", UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"HF_ENDPOINT '{endpoint}' is not an http or https URL");
        if (stallTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(stallTimeout), "the stall timeout must be positive");
        Endpoint = uri;
        _token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        StallTimeout = stallTimeout;
        // Redirects are followed by hand: a HEAD must stop at the hub's redirect to read its X-Linked-* headers, and
        // the token must not travel to another host.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("speccore/1.0");
    }

    /// <summary>A client for <c>$HF_ENDPOINT</c> (default <see cref="DefaultEndpoint"/>) with <c>$HF_TOKEN</c>.</summary>
    public static HubClient FromEnvironment(TimeSpan stallTimeout)
    {
        string? endpoint = Environment.GetEnvironmentVariable("HF_ENDPOINT");
        return new HubClient(string.IsNullOrWhiteSpace(endpoint) ? DefaultEndpoint : endpoint, Environment.GetEnvironmentVariable("HF_TOKEN"), stallTimeout);
    }

    /// <summary>The hub's base URL (ends in '/').</summary>
    public Uri Endpoint { get; }

    /// <summary>How long a read may wait for its first byte before the download fails.</summary>
    public TimeSpan StallTimeout { get; }

    /// <summary>The resolve URL of <paramref name="file"/> at <paramref name="revision"/>.</summary>
    public Uri ResolveUrl(HubRepoId repo, string revision, string file) =>
        new(Endpoint, $"{repo.Owner}/{repo.Name}/resolve/{Uri.EscapeDataString(revision)}/{EscapePath(file)}");

    private static string EscapePath(string file) => string.Join('/', file.Split('/').Select(Uri.EscapeDataString));

    /// <summary>The commit and file list of <paramref name="revision"/> from <c>/api/models/{repo}/revision/{rev}</c>,
    /// or null when the endpoint does not serve that API (a mirror with only resolve URLs) or does not know the repo;
    /// the caller then asks for files one by one.</summary>
    public async Task<HubRevision?> GetRevisionAsync(HubRepoId repo, string revision, CancellationToken cancel)
    {
        var url = new Uri(Endpoint, $"api/models/{repo.Owner}/{repo.Name}/revision/{Uri.EscapeDataString(revision)}");
        using HttpResponseMessage response = await SendFollowingAsync(HttpMethod.Get, url, null, stopAtHubRedirect: false, repo, $"{repo}: the revision API", cancel).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw AccessDenied(repo, response.StatusCode);
        if (!response.IsSuccessStatusCode) return null;
        byte[] body = await WithStallTimeoutAsync(t => response.Content.ReadAsByteArrayAsync(t), repo, $"{repo}: the revision API", cancel).ConfigureAwait(false);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("sha", out JsonElement sha) || sha.ValueKind != JsonValueKind.String
                || !HuggingFaceCache.IsCommitHash(sha.GetString()!))
                return null;
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out JsonElement siblings) && siblings.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement s in siblings.EnumerateArray())
                {
                    if (s.ValueKind == JsonValueKind.Object && s.TryGetProperty("rfilename", out JsonElement f) && f.ValueKind == JsonValueKind.String)
                        files.Add(f.GetString()!);
                }
            }
            return new HubRevision(sha.GetString()!, files);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The metadata of <paramref name="file"/> at <paramref name="revision"/> (a HEAD request), or null when the
    /// hub has no such file (404). Throws <see cref="IOException"/> naming the repo and file for anything else.</summary>
    public async Task<HubFileMetadata?> GetMetadataAsync(HubRepoId repo, string revision, string file, CancellationToken cancel)
    {
        string what = $"{repo}/{file}";
        using HttpResponseMessage response = await SendFollowingAsync(HttpMethod.Head, ResolveUrl(repo, revision, file), null, stopAtHubRedirect: true, repo, what, cancel).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw AccessDenied(repo, response.StatusCode);
        bool redirect = IsRedirect(response.StatusCode);
        if (!redirect && !response.IsSuccessStatusCode)
            throw new HubDownloadException($"{what}: the hub answered {(int)response.StatusCode} {response.ReasonPhrase} at {response.RequestMessage?.RequestUri}");
        string? commit = Header(response, "X-Repo-Commit");
        string? etag = NormalizeEtag(Header(response, "X-Linked-Etag") ?? Header(response, "ETag"));
        if (commit == null || !HuggingFaceCache.IsCommitHash(commit))
            throw new HubDownloadException($"{what}: the hub's answer has no X-Repo-Commit commit hash (is {Endpoint} a Hugging Face endpoint?)");
        if (etag == null || etag.Length == 0 || etag.Length > 128 || !etag.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new HubDownloadException($"{what}: the hub's answer has no usable ETag, so the file cannot be named in the cache");
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out long linked) && linked >= 0 ? linked : response.Content.Headers.ContentLength;
        Uri download = redirect && response.Headers.Location is Uri location ? new Uri(response.RequestMessage!.RequestUri!, location) : response.RequestMessage!.RequestUri!;
        return new HubFileMetadata(commit, etag, size, download);
    }

    /// <summary>Downloads <paramref name="url"/> into <paramref name="path"/>, continuing after the bytes it already
    /// holds with an HTTP Range request (a server that ignores the range restarts the file). Reports progress after
    /// each read. Throws <see cref="IOException"/> naming <paramref name="what"/> when a read stalls for
    /// <see cref="StallTimeout"/> or the server fails; the bytes received stay in <paramref name="path"/>.</summary>
    public async Task DownloadAsync(Uri url, string path, string what, HubRepoId repo, long? expectedSize, Action<long>? progress, CancellationToken cancel)
    {
        // A connection that breaks mid-file is resumed from the bytes on disk, a few times, as huggingface_hub does;
        // a stall or an HTTP error is reported at once.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await DownloadOnceAsync(url, path, what, repo, expectedSize, progress, cancel).ConfigureAwait(false);
                return;
            }
            catch (IOException e) when (e is not HubDownloadException && !cancel.IsCancellationRequested)
            {
                if (attempt >= MaxAttempts)
                {
                    long have = File.Exists(path) ? new FileInfo(path).Length : 0;
                    throw new HubDownloadException($"{what}: the connection broke {MaxAttempts} times, last at byte {have}{(expectedSize is long t ? $" of {t}" : "")} ({e.Message}); the partial download is kept, run the pull again to resume");
                }
            }
        }
    }

    /// <summary>How many times a file whose connection breaks is tried (each try resumes where the last stopped).</summary>
    public const int MaxAttempts = 3;

    private async Task DownloadOnceAsync(Uri url, string path, string what, HubRepoId repo, long? expectedSize, Action<long>? progress, CancellationToken cancel)
    {
        long offset = File.Exists(path) ? new FileInfo(path).Length : 0;
        if (expectedSize is long total && offset >= total)
        {
            if (offset == total) return;
            File.Delete(path); // longer than the file: not a prefix of it
            offset = 0;
        }
        using HttpResponseMessage response = await SendFollowingAsync(HttpMethod.Get, url, offset > 0 ? offset : null, stopAtHubRedirect: false, repo, what, cancel).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden) throw AccessDenied(repo, response.StatusCode);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
        {
            File.Delete(path); // the partial file is not a prefix the server recognises: start over next time
            throw new HubDownloadException($"{what}: the server refused to resume at byte {offset}; the partial file was removed, run the pull again");
        }
        if (!response.IsSuccessStatusCode)
            throw new HubDownloadException($"{what}: the server answered {(int)response.StatusCode} {response.ReasonPhrase} at {response.RequestMessage?.RequestUri}");
        bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
        if (resumed && response.Content.Headers.ContentRange?.From != offset)
            throw new HubDownloadException($"{what}: the server resumed at byte {response.Content.Headers.ContentRange?.From}, not at {offset} as asked");
        if (!resumed) offset = 0;

        await using Stream body = await WithStallTimeoutAsync(t => response.Content.ReadAsStreamAsync(t), repo, what, cancel).ConfigureAwait(false);
        await using var file = new FileStream(path, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var buffer = new byte[1 << 20];
        long received = offset;
        progress?.Invoke(received);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        while (true)
        {
            stall.CancelAfter(StallTimeout);
            int n;
            try
            {
                n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                throw Stalled(what, received, expectedSize);
            }
            if (n == 0) break;
            await file.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
            received += n;
            progress?.Invoke(received);
        }
        await file.FlushAsync(cancel).ConfigureAwait(false);
    }

    private HubDownloadException Stalled(string what, long received, long? total) =>
        new($"{what}: no data for {StallTimeout.TotalSeconds:0.#} s at byte {received}{(total is long t ? $" of {t}" : "")}; the partial download is kept, run the pull again to resume");

    private static HubDownloadException AccessDenied(HubRepoId repo, HttpStatusCode code) =>
        new($"{repo}: access denied ({(int)code}); the repo is private, gated or does not exist (a gated repo needs HF_TOKEN with access granted)");

    private async Task<T> WithStallTimeoutAsync<T>(Func<CancellationToken, Task<T>> operation, HubRepoId repo, string what, CancellationToken cancel)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        stall.CancelAfter(StallTimeout);
        try
        {
            return await operation(stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new HubDownloadException($"{what}: no answer from {Endpoint.Host} for {StallTimeout.TotalSeconds:0.#} s ({repo})");
        }
    }

    /// <summary>Sends a request, following redirects by hand. With <paramref name="stopAtHubRedirect"/> it stops at a
    /// redirect that carries the hub's file headers (the LFS redirect to a CDN), as huggingface_hub does.</summary>
    private async Task<HttpResponseMessage> SendFollowingAsync(HttpMethod method, Uri url, long? rangeFrom, bool stopAtHubRedirect, HubRepoId repo, string what, CancellationToken cancel)
    {
        for (int hop = 0; ; hop++)
        {
            var request = new HttpRequestMessage(method, url);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (rangeFrom is long from) request.Headers.Range = new RangeHeaderValue(from, null);
            if (_token != null && url.Host == Endpoint.Host && url.Port == Endpoint.Port)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            HttpResponseMessage response;
            try
            {
                response = await WithStallTimeoutAsync(t => _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, t), repo, what, cancel).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new HubDownloadException($"{what}: cannot reach {url.Host}:{url.Port} ({e.Message})");
            }
            if (!IsRedirect(response.StatusCode) || response.Headers.Location == null) return response;
            if (stopAtHubRedirect && Header(response, "X-Repo-Commit") != null) return response;
            if (hop >= MaxRedirects)
            {
                response.Dispose();
                throw new HubDownloadException($"{what}: more than {MaxRedirects} redirects from {Endpoint.Host}");
            }
            url = new Uri(url, response.Headers.Location);
            response.Dispose();
        }
    }

    private static bool IsRedirect(HttpStatusCode code) => (int)code is >= 300 and < 400;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out HeaderStringValues values) ? values.ToString() : null;

    /// <summary>Removes the weak prefix and the quotes of an ETag, as huggingface_hub does.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (etag == null) return null;
        etag = etag.Trim();
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        return etag.Trim('"');
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();
}
