using System.CommandLine;
using System.Globalization;
using SpecCore.Models.Hub;
using SpecCore.Models.Registry;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore models</c>: list the registry and the Hugging Face cache, and pull models from the hub.</summary>
public static class ModelsCommand
{
    /// <summary>Seconds a download may wait for data before it fails, unless <c>--stall-timeout</c> says otherwise.</summary>
    public const int DefaultStallTimeoutSeconds = 60;

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var list = new Command("list", "List the models in models.json (present or not downloaded) and the models in the Hugging Face cache.");
        list.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output ?? Console.Out;
            foreach (string line in Describe(ModelRegistry.Load())) output.WriteLine(line);
            return 0;
        });
        return new Command("models", "Model registry and download commands.") { list, CreatePull() };
    }

    private static Command CreatePull()
    {
        var name = new Argument<string>("model") { Description = "A registry name (models.json) or a Hugging Face repo id, owner/name." };
        var revision = new Option<string>("--revision")
        {
            Description = "Branch, tag or commit to download.",
            DefaultValueFactory = _ => "main",
        };
        var stall = new Option<int>("--stall-timeout")
        {
            Description = "Seconds a download may wait for data before it fails (the partial file is kept and resumed next time).",
            DefaultValueFactory = _ => DefaultStallTimeoutSeconds,
        };
        var command = new Command("pull", "Download a model (config, tokenizer files, safetensors, sharded too) from $HF_ENDPOINT (default " +
            "https://huggingface.co, with $HF_TOKEN when set) into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or " +
            "~/.cache/huggingface/hub), resuming partial files and checking each file's sha256. Prints the snapshot folder.")
        {
            name, revision, stall,
        };
        command.SetAction((parse, cancel) => PullAsync(parse.GetValue(name)!, parse.GetValue(revision)!, parse.GetValue(stall),
            parse.InvocationConfiguration.Output ?? Console.Out, cancel));
        return command;
    }

    private static async Task<int> PullAsync(string name, string revision, int stallSeconds, TextWriter output, CancellationToken cancel)
    {
        if (stallSeconds < 1) throw new ArgumentException($"--stall-timeout must be at least 1 second, got {stallSeconds}");
        ModelRegistry registry = ModelRegistry.Load();
        RegistryEntry? entry = registry.Entries.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
        HubRepoId repo;
        if (entry != null)
        {
            repo = entry.Repo != null ? HubRepoId.Parse(entry.Repo)
                : throw new ArgumentException($"model '{entry.Name}' is a local model of the registry (no Hugging Face repo); nothing to pull");
        }
        else if (!HubRepoId.TryParse(name, out HubRepoId? id))
        {
            throw new ArgumentException($"'{name}' is neither a registry name nor a Hugging Face repo id (owner/name)");
        }
        else
        {
            repo = id.Value;
        }

        using HubClient client = HubClient.FromEnvironment(TimeSpan.FromSeconds(stallSeconds));
        var downloader = new ModelDownloader(client, registry.HubCache);
        var bar = new DownloadProgressBar(Console.Error, !Console.IsErrorRedirected);
        string snapshot = await downloader.PullAsync(repo, revision, entry?.Files, bar.Report, cancel).ConfigureAwait(false);
        output.WriteLine(snapshot);
        return 0;
    }

    /// <summary>The lines of <c>models list</c>: the models folder, a header, then one line per entry with its family,
    /// dtype, context, whether it is present (or where to download it from) and the drafters that pair with it; then
    /// the Hugging Face cache's folder and the models in it that the registry does not name.</summary>
    public static IEnumerable<string> Describe(ModelRegistry registry)
    {
        var rows = new List<(RegistryEntry Entry, string State)>();
        var registeredRepos = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int nameWidth = 4, stateWidth = 5;
        foreach (RegistryEntry e in registry.Entries)
        {
            string? folder = registry.LocalFolderOf(e);
            string state = folder == null
                ? e.Repo != null ? $"not downloaded (hf: {e.Repo})" : "missing (set SPECCORE_MODELS to the models folder)"
                : folder.StartsWith(registry.HubCache.Root, StringComparison.Ordinal) ? $"present (hf cache: {e.Repo})" : "present";
            if (e.Repo != null) registeredRepos.Add(e.Repo);
            rows.Add((e, state));
            nameWidth = Math.Max(nameWidth, e.Name.Length);
            stateWidth = Math.Max(stateWidth, state.Length);
        }
        yield return $"models folder: {registry.ModelsFolder}";
        yield return $"{"name".PadRight(nameWidth)}  {"family",-8} {"dtype",-5} {"context",7}  {"state".PadRight(stateWidth)}  drafts";
        foreach (var (e, state) in rows)
        {
            string context = e.Context is int c ? c.ToString(CultureInfo.InvariantCulture) : "?";
            yield return $"{e.Name.PadRight(nameWidth)}  {e.Family,-8} {e.DType ?? "?",-5} {context,7}  {state.PadRight(stateWidth)}  {string.Join(", ", e.Drafts)}";
        }
        yield return $"Hugging Face cache: {registry.HubCache.Root}";
        int others = 0;
        foreach (var (repo, snapshot) in registry.HubCache.EnumerateModels())
        {
            if (registeredRepos.Contains(repo.ToString())) continue;
            others++;
            yield return snapshot != null
                ? $"{repo}  present  {snapshot}"
                : $"{repo}  incomplete (no main snapshot with a config.json; pull it again)";
        }
        if (others == 0) yield return "(no other models cached)";
    }
}
