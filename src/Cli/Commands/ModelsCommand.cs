using System.CommandLine;
using System.Globalization;
using SpecCore.Models.Registry;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore models</c>: list the registry and what is present locally.</summary>
public static class ModelsCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var list = new Command("list", "List the models in models.json, where they are expected, and whether they are present.");
        list.SetAction(_ =>
        {
            foreach (string line in Describe(ModelRegistry.Load())) Console.WriteLine(line);
            return 0;
        });
        return new Command("models", "Model registry commands.") { list };
    }

    /// <summary>The lines of <c>models list</c>: the models folder, a header, then one line per entry with its family,
    /// dtype, context, whether it is present (or where to download it from) and the drafters that pair with it.</summary>
    public static IEnumerable<string> Describe(ModelRegistry registry)
    {
        var rows = new List<(RegistryEntry Entry, string State)>();
        int nameWidth = 4, stateWidth = 5;
        foreach (RegistryEntry e in registry.Entries)
        {
            string state = registry.IsPresent(e) ? "present"
                : e.Repo != null ? $"not downloaded (hf: {e.Repo})"
                : "missing (set SPECCORE_MODELS to the models folder)";
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
    }
}
