using SpecCore.Models.Hub;
using SpecCore.Models.Registry;

namespace SpecCore.Tests.Hub;

/// <summary><see cref="ModelDownloader"/> against a loopback hub: the Hugging Face cache layout, resume of partial files
/// and broken connections, corrupt files leaving nothing behind, stalls timing out, sharded weights, and
/// <see cref="ModelRegistry.Resolve"/> finding the download by repo id.</summary>
public sealed class HubDownloadTests : IDisposable
{
    private const string RepoName = "test-org/stories-hub";
    private static readonly HubRepoId Repo = HubRepoId.Parse(RepoName);
    private readonly string _root = Directory.CreateTempSubdirectory("speccore-hub-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private HuggingFaceCache Cache => new(_root);

    private string Pull(FakeHub hub, TimeSpan? stall = null, IReadOnlyDictionary<string, string>? sha256 = null, string? token = null)
    {
        using var client = new HubClient(hub.Endpoint, token, stall ?? TimeSpan.FromSeconds(20));
        return new ModelDownloader(client, Cache).PullAsync(Repo, "main", sha256, null, CancellationToken.None).GetAwaiter().GetResult();
    }

    private string RepoFolder => Cache.RepoFolder(Repo);

    [Fact]
    public void FullDownloadHasTheHuggingFaceCacheLayout()
    {
        Dictionary<string, byte[]> files = HubTestRepos.Stories260K();
        using var hub = new FakeHub(RepoName, files);
        string snapshot = Pull(hub, token: "hf_secret");

        Assert.Equal(Path.Combine(_root, "models--test-org--stories-hub", "snapshots", hub.Commit), snapshot);
        Assert.Equal(hub.Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
        foreach (string file in new[] { "config.json", "generation_config.json", "tokenizer.model", "tokenizer_config.json", "model.safetensors" })
        {
            string pointer = Path.Combine(snapshot, file);
            Assert.Equal($"../../blobs/{hub.EtagOf(file)}", new FileInfo(pointer).LinkTarget);
            Assert.Equal(files[file], File.ReadAllBytes(pointer));
        }
        Assert.Equal(FakeHub.Sha256(files["model.safetensors"]), hub.EtagOf("model.safetensors")); // LFS blobs are named by sha256
        Assert.False(File.Exists(Path.Combine(snapshot, "README.md")));
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoFolder, "blobs"), "*.incomplete"));
        // The token goes to the hub's own URLs (api, resolve) and is sent as a Bearer token.
        Assert.All(hub.Requests.Where(r => !r.Path.StartsWith("/cdn/", StringComparison.Ordinal)), r => Assert.Equal("Bearer hf_secret", r.Auth));

        string registryFile = Path.Combine(_root, "models.json");
        File.WriteAllText(registryFile, """{ "version": 1, "models": [] }""");
        ModelRegistry registry = ModelRegistry.LoadFile(registryFile, _root, Cache);
        Assert.Equal(snapshot, registry.Resolve(RepoName));

        // A second pull finds every blob in place and downloads nothing.
        int before = hub.Requests.Count(r => r.Method == "GET" && !r.Path.StartsWith("/api/", StringComparison.Ordinal));
        Pull(hub);
        Assert.Equal(before, hub.Requests.Count(r => r.Method == "GET" && !r.Path.StartsWith("/api/", StringComparison.Ordinal)));
    }

    [Fact]
    public void APartialFileIsResumedWithARangeRequest()
    {
        Dictionary<string, byte[]> files = HubTestRepos.Stories260K();
        using var hub = new FakeHub(RepoName, files);
        byte[] weights = files["model.safetensors"];
        int kept = weights.Length * 2 / 5;
        Directory.CreateDirectory(Path.Combine(RepoFolder, "blobs"));
        File.WriteAllBytes(Cache.IncompletePath(Repo, hub.EtagOf("model.safetensors")), weights.AsSpan(0, kept).ToArray());

        string snapshot = Pull(hub);

        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        var cdn = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal($"bytes={kept}-", Assert.Single(cdn).Range);
    }

    [Fact]
    public void ABrokenConnectionIsResumedWhereItStopped()
    {
        Dictionary<string, byte[]> files = HubTestRepos.Stories260K();
        using var hub = new FakeHub(RepoName, files);
        hub.Behaviour["model.safetensors"] = Serving.BreakOnce;

        string snapshot = Pull(hub);

        Assert.Equal(files["model.safetensors"], File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        var cdn = hub.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, cdn.Count);
        Assert.Null(cdn[0].Range);
        Assert.StartsWith("bytes=", cdn[1].Range);
        Assert.NotEqual("bytes=0-", cdn[1].Range);
    }

    [Theory]
    [InlineData("model.safetensors")] // LFS: checked against the sha256 in X-Linked-Etag
    [InlineData("config.json")] // in git: checked against the blob's git sha1 in ETag
    public void ACorruptFileIsAClearErrorAndLeavesNothingInPlace(string file)
    {
        using var hub = new FakeHub(RepoName, HubTestRepos.Stories260K());
        hub.Behaviour[file] = Serving.Corrupt;

        var e = Assert.Throws<InvalidDataException>(() => Pull(hub));

        Assert.Contains($"{RepoName}/{file}: corrupt download", e.Message);
        Assert.True(e.Message.Length < 300);
        Assert.False(File.Exists(Cache.BlobPath(Repo, hub.EtagOf(file))));
        Assert.False(File.Exists(Cache.IncompletePath(Repo, hub.EtagOf(file))));
        Assert.False(ModelFileExists(Cache.PointerPath(Repo, hub.Commit, file)));
        Assert.False(File.Exists(Path.Combine(RepoFolder, "refs", "main")));
        Assert.Null(Cache.FindSnapshot(Repo));
    }

    [Fact]
    public void AFileThatDisagreesWithTheRegistrySha256IsRefused()
    {
        using var hub = new FakeHub(RepoName, HubTestRepos.Stories260K());
        var sums = new Dictionary<string, string> { ["model.safetensors"] = new string('a', 64) };

        var e = Assert.Throws<InvalidDataException>(() => Pull(hub, sha256: sums));

        Assert.Contains("model.safetensors: corrupt download", e.Message);
        Assert.Contains("models.json", e.Message);
        Assert.False(File.Exists(Cache.BlobPath(Repo, hub.EtagOf("model.safetensors"))));
    }

    [Fact]
    public void AStalledDownloadTimesOutAndKeepsWhatArrived()
    {
        using var hub = new FakeHub(RepoName, HubTestRepos.Stories260K());
        hub.Behaviour["model.safetensors"] = Serving.Stall;

        // 4 s, not 1: on a busy CI machine the small files before it may take over a second to answer.
        var e = Assert.Throws<HubDownloadException>(() => Pull(hub, stall: TimeSpan.FromSeconds(4)));

        Assert.Contains($"{RepoName}/model.safetensors: no data for 4 s", e.Message);
        Assert.Contains("resume", e.Message);
        Assert.False(File.Exists(Cache.BlobPath(Repo, hub.EtagOf("model.safetensors"))));
        Assert.Null(Cache.FindSnapshot(Repo));

        // Served normally again, the next pull resumes from the bytes kept.
        hub.Behaviour["model.safetensors"] = Serving.Normal;
        string snapshot = Pull(hub);
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
    }

    [Fact]
    public void ShardedWeightsAreFetchedFromTheirIndexWithoutTheApi()
    {
        Dictionary<string, byte[]> files = HubTestRepos.Stories260KSharded();
        using var hub = new FakeHub(RepoName, files, serveApi: false);

        string snapshot = Pull(hub);

        foreach (string file in new[] { "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
            Assert.Equal(files[file], File.ReadAllBytes(Path.Combine(snapshot, file)));
        Assert.False(File.Exists(Path.Combine(snapshot, "model.safetensors")));
        Assert.Equal(hub.Commit, File.ReadAllText(Path.Combine(RepoFolder, "refs", "main")));
    }

    [Fact]
    public void AnUnknownRepoIsAClearError()
    {
        using var hub = new FakeHub("other-org/other", HubTestRepos.Stories260K());
        var e = Assert.Throws<HubDownloadException>(() => Pull(hub));
        Assert.Contains($"{RepoName}: no config.json at revision 'main'", e.Message);
    }

    [Theory]
    [InlineData("org/name", true)]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", true)]
    [InlineData("../etc", false)]
    [InlineData("org/..", false)]
    [InlineData("a/b/c", false)]
    [InlineData("/abs", false)]
    [InlineData("org/", false)]
    [InlineData("org/na me", false)]
    public void RepoIdsAreCheckedBeforeTheyNameAFolder(string text, bool valid) => Assert.Equal(valid, HubRepoId.TryParse(text, out _));

    private static bool ModelFileExists(string path) => File.Exists(path) || new FileInfo(path).LinkTarget != null;
}
