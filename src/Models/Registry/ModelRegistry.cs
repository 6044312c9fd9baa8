using System.Text.Json;
using SpecCore.Models.Hub;

namespace SpecCore.Models.Registry;

/// <summary>One model in models.json.</summary>
/// <param name="Name">Short name used on the command line.</param>
/// <param name="Path">Folder relative to the models folder (default: the name, where a downloaded model goes).</param>
/// <param name="Repo">Hugging Face repo id, for downloadable models.</param>
/// <param name="Family">Model family ("llama", "qwen2", "qwen3", "mistral").</param>
/// <param name="Drafts">Drafters that pair with it (model names or "lookup").</param>
public sealed record RegistryEntry(string Name, string Path, string? Repo, string Family, IReadOnlyList<string> Drafts)
{
    /// <summary>The stored weight dtype ("f32", "bf16", "f16"), or null when not given.</summary>
    public string? DType { get; init; }

    /// <summary>The model's context (max_position_embeddings), or null when not given.</summary>
    public int? Context { get; init; }

    /// <summary>The sha256 of each file the registry knows (file name to lower-case hex); empty when none is known.</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();
}

/// <summary>The model registry (models.json): names, local paths, repos and which draft pairs with which target.</summary>
public sealed class ModelRegistry
{
    private readonly Dictionary<string, RegistryEntry> _entries;

    private ModelRegistry(Dictionary<string, RegistryEntry> entries, string modelsFolder, HuggingFaceCache? hubCache)
    {
        _entries = entries;
        ModelsFolder = modelsFolder;
        HubCache = hubCache ?? HuggingFaceCache.FromEnvironment();
    }

    /// <summary>Where registry paths are resolved.</summary>
    public string ModelsFolder { get; }

    /// <summary>The Hugging Face cache where downloaded models (and those other tools downloaded) are found.</summary>
    public HuggingFaceCache HubCache { get; }

    /// <summary>Every entry.</summary>
    public IEnumerable<RegistryEntry> Entries => _entries.Values;

    /// <summary>The models folder: $SPECCORE_MODELS, else ../shared/models beside the nearest folder (from the
    /// current directory, then from the executable) that holds models.json or SpecCore.sln.</summary>
    public static string DefaultModelsFolder()
    {
        string? env = Environment.GetEnvironmentVariable("SPECCORE_MODELS");
        if (!string.IsNullOrEmpty(env)) return env;
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = System.IO.Path.Combine(dir.FullName, "..", "shared", "models");
                if ((File.Exists(System.IO.Path.Combine(dir.FullName, "models.json")) || File.Exists(System.IO.Path.Combine(dir.FullName, "SpecCore.sln")))
                    && Directory.Exists(candidate))
                    return System.IO.Path.GetFullPath(candidate);
            }
        }
        return System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory.GetCurrentDirectory(), "..", "shared", "models"));
    }

    /// <summary>Loads models.json: from beside the executable (it is copied there at build), else found upwards
    /// from the current directory. Returns an empty registry if there is none.</summary>
    public static ModelRegistry Load(string? modelsFolder = null, HuggingFaceCache? hubCache = null)
    {
        string folder = modelsFolder ?? DefaultModelsFolder();
        string? path = FindRegistryFile();
        return path == null ? new ModelRegistry(new Dictionary<string, RegistryEntry>(StringComparer.OrdinalIgnoreCase), folder, hubCache) : LoadFile(path, folder, hubCache);
    }

    /// <summary>Loads the registry file at <paramref name="path"/>, resolving paths in <paramref name="modelsFolder"/>
    /// (default: <see cref="DefaultModelsFolder"/>) and downloaded models in <paramref name="hubCache"/> (default: the
    /// environment's Hugging Face cache).</summary>
    public static ModelRegistry LoadFile(string path, string? modelsFolder = null, HuggingFaceCache? hubCache = null)
    {
        string folder = modelsFolder ?? DefaultModelsFolder();
        var entries = new Dictionary<string, RegistryEntry>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (JsonElement m in doc.RootElement.GetProperty("models").EnumerateArray())
            {
                string name = m.GetProperty("name").GetString()!;
                entries[name] = new RegistryEntry(
                    name,
                    m.TryGetProperty("path", out var p) ? p.GetString()! : name,
                    m.TryGetProperty("repo", out var r) ? r.GetString() : null,
                    m.TryGetProperty("family", out var f) ? f.GetString()! : "llama",
                    m.TryGetProperty("drafts", out var d) ? d.EnumerateArray().Select(x => x.GetString()!).ToArray() : Array.Empty<string>())
                {
                    DType = m.TryGetProperty("dtype", out var t) ? t.GetString() : null,
                    Context = m.TryGetProperty("context", out var c) ? c.GetInt32() : null,
                    Files = m.TryGetProperty("files", out var files)
                        ? files.EnumerateObject().ToDictionary(x => x.Name, x => x.Value.GetString()!.ToLowerInvariant(), StringComparer.Ordinal)
                        : new Dictionary<string, string>(),
                };
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: malformed model registry ({e.Message})");
        }
        return new ModelRegistry(entries, folder, hubCache);
    }

    private static string? FindRegistryFile()
    {
        string beside = System.IO.Path.Combine(AppContext.BaseDirectory, "models.json");
        if (File.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir != null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "models.json");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The local folder of <paramref name="entry"/> (it may not exist yet).</summary>
    public string FolderOf(RegistryEntry entry) => System.IO.Path.Combine(ModelsFolder, entry.Path);

    /// <summary>Whether <paramref name="entry"/> is present: its folder holds a model (a config.json), or its repo has a
    /// snapshot in the Hugging Face cache.</summary>
    public bool IsPresent(RegistryEntry entry) => LocalFolderOf(entry) != null;

    /// <summary>Where <paramref name="entry"/> is on disk: its folder in the models folder when that holds a
    /// config.json, else its repo's <c>main</c> snapshot in the Hugging Face cache, else null.</summary>
    public string? LocalFolderOf(RegistryEntry entry)
    {
        string dir = FolderOf(entry);
        if (File.Exists(System.IO.Path.Combine(dir, "config.json"))) return dir;
        return entry.Repo != null && HubRepoId.TryParse(entry.Repo, out HubRepoId? repo) ? HubCache.FindSnapshot(repo.Value) : null;
    }

    /// <summary>Resolves a model argument: an existing folder is used as is; otherwise a registry name (its folder in
    /// the models folder, else its repo's snapshot in the Hugging Face cache); otherwise a repo id <c>owner/name</c>
    /// downloaded into the Hugging Face cache (its <c>refs/main</c> snapshot). Clear errors for anything else.</summary>
    public string Resolve(string nameOrPath)
    {
        if (Directory.Exists(nameOrPath)) return System.IO.Path.GetFullPath(nameOrPath);
        if (_entries.TryGetValue(nameOrPath, out RegistryEntry? e))
        {
            string dir = FolderOf(e);
            if (Directory.Exists(dir)) return dir;
            if (LocalFolderOf(e) is string cached) return cached;
            throw new DirectoryNotFoundException(e.Repo != null
                ? $"model '{e.Name}' is not downloaded (Hugging Face repo {e.Repo}): not at {dir} nor in the Hugging Face cache {HubCache.Root}"
                : $"model '{e.Name}' was not found at {dir} (set SPECCORE_MODELS to the models folder)");
        }
        if (File.Exists(nameOrPath)) throw new DirectoryNotFoundException($"'{nameOrPath}' is a file; --model takes a Hugging Face model folder (config.json + model.safetensors) or a registry name");
        if (HubRepoId.TryParse(nameOrPath, out HubRepoId? id))
        {
            if (HubCache.FindSnapshot(id.Value) is string snapshot) return snapshot;
            throw new DirectoryNotFoundException($"'{nameOrPath}' is not a folder or a registry name, and the Hugging Face cache {HubCache.Root} has no downloaded snapshot of it");
        }
        throw new DirectoryNotFoundException($"no model folder or registry entry named '{nameOrPath}' (registry names: {string.Join(", ", _entries.Keys)})");
    }
}
