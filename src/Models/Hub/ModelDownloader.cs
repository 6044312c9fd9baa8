using System.Text.Json;

namespace SpecCore.Models.Hub;

/// <summary>Downloads what SpecCore needs of a model repo into the Hugging Face cache: config.json, the generation
/// config, the tokenizer files and the safetensors weights (one file, or the shards an index names). Each file is
/// fetched into <c>blobs/{etag}.incomplete</c> (resumed if it is there), checked against its sha256 (from the
/// registry, else the hub's ETag), renamed into place and linked from the snapshot; the revision's ref is written
/// last, so a model that did not fully arrive is never found by name.</summary>
public sealed class ModelDownloader(HubClient client, HuggingFaceCache cache)
{
    /// <summary>Small files fetched when the repo has them; config.json and one tokenizer file are required.</summary>
    public static readonly IReadOnlyList<string> MetadataFiles =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
        "special_tokens_map.json", "chat_template.jinja",
    ];

    private const string SingleWeights = "model.safetensors";
    private const string WeightIndex = "model.safetensors.index.json";

    /// <summary>Downloads <paramref name="repo"/> at <paramref name="revision"/> (a branch, tag or commit) and returns
    /// the snapshot folder. <paramref name="sha256"/> maps file names to the sums the registry knows. Files already
    /// in the cache are not fetched again.</summary>
    public async Task<string> PullAsync(HubRepoId repo, string revision, IReadOnlyDictionary<string, string>? sha256, Action<DownloadProgress>? progress, CancellationToken cancel)
    {
        if (revision.Length == 0 || revision.Contains("..", StringComparison.Ordinal) || revision.StartsWith('/') || revision.Contains('\\'))
            throw new ArgumentException($"revision '{revision}' is not a branch, tag or commit name");
        HubRevision? info = await client.GetRevisionAsync(repo, revision, cancel).ConfigureAwait(false);
        string? commit = info?.Commit;
        var present = info != null ? new HashSet<string>(info.Files, StringComparer.Ordinal) : null;

        // The files to fetch, each with its metadata (asked at the commit once it is known, so all come from one).
        var plan = new List<(string File, HubFileMetadata Meta)>();
        async Task<HubFileMetadata?> Probe(string file)
        {
            if (present != null && !present.Contains(file)) return null;
            HubFileMetadata? meta = await client.GetMetadataAsync(repo, commit ?? revision, file, cancel).ConfigureAwait(false);
            if (meta != null)
            {
                if (commit != null && meta.Commit != commit)
                    throw new HubDownloadException($"{repo}/{file}: the hub gave commit {meta.Commit[..12]} where the revision is {commit[..12]}");
                commit ??= meta.Commit;
            }
            return meta;
        }

        foreach (string file in MetadataFiles)
        {
            HubFileMetadata? meta = await Probe(file).ConfigureAwait(false);
            if (meta != null) plan.Add((file, meta));
            else if (file == "config.json")
                throw new HubDownloadException($"{repo}: no config.json at revision '{revision}' on {client.Endpoint} (is the repo id right, and is it a transformers model?)");
        }
        if (!plan.Exists(p => p.File is "tokenizer.json" or "tokenizer.model"))
            throw new HubDownloadException($"{repo}: has neither tokenizer.json nor tokenizer.model at revision '{revision}'; SpecCore reads one of those");
        HubFileMetadata? single = await Probe(SingleWeights).ConfigureAwait(false);
        HubFileMetadata? index = single == null ? await Probe(WeightIndex).ConfigureAwait(false) : null;
        if (single == null && index == null)
            throw new HubDownloadException($"{repo}: has no {SingleWeights} or {WeightIndex} at revision '{revision}'; SpecCore loads safetensors weights only");
        plan.Add(single != null ? (SingleWeights, single) : (WeightIndex, index!));

        foreach (var (file, meta) in plan) await FetchAsync(repo, file, meta, sha256, progress, cancel).ConfigureAwait(false);
        if (index != null)
        {
            foreach (string shard in ShardsOf(cache.BlobPath(repo, index.Etag), $"{repo}/{WeightIndex}"))
            {
                HubFileMetadata meta = await client.GetMetadataAsync(repo, commit!, shard, cancel).ConfigureAwait(false)
                    ?? throw new HubDownloadException($"{repo}/{WeightIndex}: names shard '{shard}', which the repo does not have");
                await FetchAsync(repo, shard, meta, sha256, progress, cancel).ConfigureAwait(false);
            }
        }
        cache.WriteRef(repo, revision, commit!);
        return cache.SnapshotFolder(repo, commit!);
    }

    /// <summary>The shard file names an index's <c>weight_map</c> names, in first-seen order.</summary>
    internal static IReadOnlyList<string> ShardsOf(string indexPath, string what)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(ModelFile.ReadAllBytes(indexPath, 64 << 20));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{what}: missing object 'weight_map'");
            var shards = new List<string>();
            foreach (JsonProperty p in map.EnumerateObject())
            {
                string shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidDataException($"{what}: weight_map['{p.Name}'] is not a file name");
                if (shard.Length == 0 || shard.Contains('/') || shard.Contains('\\') || shard.Contains("..", StringComparison.Ordinal))
                    throw new InvalidDataException($"{what}: shard name '{shard}' must be a plain file name");
                if (!shards.Contains(shard)) shards.Add(shard);
            }
            if (shards.Count == 0) throw new InvalidDataException($"{what}: 'weight_map' names no shard");
            return shards;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{what}: not valid JSON ({e.Message})");
        }
    }

    /// <summary>Puts one file in the cache: downloaded into its .incomplete file, verified, renamed to its blob, and
    /// linked from the snapshot. A file whose bytes do not match its hash is deleted and reported.</summary>
    private async Task FetchAsync(HubRepoId repo, string file, HubFileMetadata meta, IReadOnlyDictionary<string, string>? sha256, Action<DownloadProgress>? progress, CancellationToken cancel)
    {
        string what = $"{repo}/{file}";
        string blob = cache.BlobPath(repo, meta.Etag);
        if (!File.Exists(blob))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            string incomplete = cache.IncompletePath(repo, meta.Etag);
            await client.DownloadAsync(meta.DownloadUrl, incomplete, what, repo, meta.Size,
                received => progress?.Invoke(new DownloadProgress(file, received, meta.Size, Done: false)), cancel).ConfigureAwait(false);
            Verify(incomplete, what, meta, sha256 != null && sha256.TryGetValue(file, out string? known) ? known : null);
            File.Move(incomplete, blob, overwrite: true);
        }
        Link(cache.PointerPath(repo, meta.Commit, file), blob, file);
        progress?.Invoke(new DownloadProgress(file, new FileInfo(blob).Length, meta.Size, Done: true));
    }

    private static void Verify(string incomplete, string what, HubFileMetadata meta, string? registrySha256)
    {
        long length = new FileInfo(incomplete).Length;
        if (meta.Size is long size && length != size)
        {
            File.Delete(incomplete);
            throw new InvalidDataException($"{what}: received {length} bytes where the hub announced {size}; the download was discarded");
        }
        (string? expected, string source) = registrySha256 != null ? (registrySha256.ToLowerInvariant(), "models.json") : (meta.Etag.ToLowerInvariant(), "the hub's ETag");
        BlobVerifier.HashKind kind = BlobVerifier.KindOf(expected);
        if (kind == BlobVerifier.HashKind.None) return;
        string actual = BlobVerifier.Compute(incomplete, kind);
        if (actual != expected)
        {
            File.Delete(incomplete);
            string name = kind == BlobVerifier.HashKind.Sha256 ? "sha256" : "git sha1";
            throw new InvalidDataException($"{what}: corrupt download, {name} {actual[..16]}... where {source} says {expected[..16]}...; the file was discarded, run the pull again");
        }
    }

    /// <summary>Makes <paramref name="pointer"/> a relative symbolic link to <paramref name="blob"/>, as huggingface_hub
    /// does; where links cannot be made, the snapshot gets a copy.</summary>
    private static void Link(string pointer, string blob, string file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        int depth = file.Count(c => c == '/');
        string target = string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + Path.GetFileName(blob);
        var existing = new FileInfo(pointer);
        if (existing.LinkTarget == target) return;
        if (existing.Exists || existing.LinkTarget != null) existing.Delete();
        try
        {
            File.CreateSymbolicLink(pointer, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            File.Copy(blob, pointer, overwrite: true);
        }
    }
}
