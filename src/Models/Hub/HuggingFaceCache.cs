namespace SpecCore.Models.Hub;

/// <summary>The Hugging Face hub cache, laid out as <c>huggingface_hub</c> lays it out, so that models other tools
/// downloaded are found here and the other way round:
/// <code>
/// {root}/models--{owner}--{name}/
///   blobs/{etag}                      file contents, named by the hub's ETag (sha256 for LFS files, git sha1 otherwise)
///   blobs/{etag}.incomplete           a download in progress (resumed with an HTTP Range request)
///   snapshots/{commit}/{file}         a relative symbolic link to ../../blobs/{etag}
///   refs/{revision}                   the commit hash the revision (branch or tag) pointed to when last downloaded
/// </code></summary>
public sealed class HuggingFaceCache
{
    /// <summary>A cache rooted at <paramref name="root"/> (the folder holding the <c>models--*</c> folders).</summary>
    public HuggingFaceCache(string root) => Root = Path.GetFullPath(root);

    /// <summary>The folder holding the <c>models--*</c> folders.</summary>
    public string Root { get; }

    /// <summary>The cache the environment names, as <c>huggingface_hub</c> reads it: <c>$HF_HUB_CACHE</c>, else
    /// <c>$HF_HOME/hub</c>, else <c>$XDG_CACHE_HOME/huggingface/hub</c>, else <c>~/.cache/huggingface/hub</c>.</summary>
    public static HuggingFaceCache FromEnvironment() => new(DefaultRoot());

    /// <summary>The root <see cref="FromEnvironment"/> uses.</summary>
    public static string DefaultRoot()
    {
        string? hubCache = Environment.GetEnvironmentVariable("HF_HUB_CACHE");
        if (!string.IsNullOrEmpty(hubCache)) return ExpandHome(hubCache);
        string? home = Environment.GetEnvironmentVariable("HF_HOME");
        if (!string.IsNullOrEmpty(home)) return Path.Combine(ExpandHome(home), "hub");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string cache = !string.IsNullOrEmpty(xdg) ? ExpandHome(xdg) : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "huggingface", "hub");
    }

    private static string ExpandHome(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path.Length > 2 ? path[2..] : "")
            : path;

    /// <summary>The repo's folder, <c>{root}/models--owner--name</c>.</summary>
    public string RepoFolder(HubRepoId repo) => Path.Combine(Root, repo.CacheFolderName);

    /// <summary>Where the contents with ETag <paramref name="etag"/> are kept.</summary>
    public string BlobPath(HubRepoId repo, string etag) => Path.Combine(RepoFolder(repo), "blobs", etag);

    /// <summary>Where a download of the blob <paramref name="etag"/> collects its bytes until they are verified.</summary>
    public string IncompletePath(HubRepoId repo, string etag) => BlobPath(repo, etag) + ".incomplete";

    /// <summary>The snapshot folder of <paramref name="commit"/>.</summary>
    public string SnapshotFolder(HubRepoId repo, string commit) => Path.Combine(RepoFolder(repo), "snapshots", commit);

    /// <summary>The snapshot's entry for <paramref name="file"/> (a path relative to the repo, '/'-separated).</summary>
    public string PointerPath(HubRepoId repo, string commit, string file) => Path.Combine(SnapshotFolder(repo, commit), file.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>The commit <paramref name="revision"/> stands for: a commit hash with a snapshot folder is itself,
    /// otherwise the content of <c>refs/{revision}</c>. Null when the cache does not know it.</summary>
    public string? ResolveCommit(HubRepoId repo, string revision)
    {
        if (IsCommitHash(revision) && Directory.Exists(SnapshotFolder(repo, revision))) return revision;
        if (revision.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(revision)) return null;
        string refFile = Path.Combine(RepoFolder(repo), "refs", revision);
        if (!File.Exists(refFile)) return null;
        string commit = File.ReadAllText(refFile).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>The snapshot folder of <paramref name="revision"/> when it holds a model (a config.json that resolves
    /// to a file), else null.</summary>
    public string? FindSnapshot(HubRepoId repo, string revision = "main")
    {
        string? commit = ResolveCommit(repo, revision);
        if (commit == null) return null;
        string folder = SnapshotFolder(repo, commit);
        return File.Exists(Path.Combine(folder, "config.json")) ? folder : null;
    }

    /// <summary>Records that <paramref name="revision"/> pointed to <paramref name="commit"/> (written to a temporary
    /// file and renamed, so a reader never sees half a hash).</summary>
    public void WriteRef(HubRepoId repo, string revision, string commit)
    {
        if (revision == commit) return;
        string refFile = Path.Combine(RepoFolder(repo), "refs", revision.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
        string temp = refFile + ".tmp";
        File.WriteAllText(temp, commit);
        File.Move(temp, refFile, overwrite: true);
    }

    /// <summary>Every model repo in the cache, with the snapshot its <c>main</c> ref points to (null when there is
    /// none or it holds no config.json).</summary>
    public IEnumerable<(HubRepoId Repo, string? Snapshot)> EnumerateModels()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (string dir in Directory.EnumerateDirectories(Root, "models--*").Order(StringComparer.Ordinal))
        {
            string[] parts = Path.GetFileName(dir)["models--".Length..].Split("--");
            if (parts.Length != 2 || !HubRepoId.TryParse($"{parts[0]}/{parts[1]}", out HubRepoId? repo)) continue;
            yield return (repo.Value, FindSnapshot(repo.Value));
        }
    }

    /// <summary>Whether <paramref name="text"/> is a full 40-hex-digit git commit hash.</summary>
    public static bool IsCommitHash(string text) => text.Length == 40 && IsLowerHex(text);

    internal static bool IsLowerHex(string text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        }
        return true;
    }
}
