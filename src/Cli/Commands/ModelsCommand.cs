using System.CommandLine;
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
            var registry = ModelRegistry.Load();
            Console.WriteLine($"models folder: {registry.ModelsFolder}");
            foreach (var e in registry.Entries)
            {
                string dir = Path.Combine(registry.ModelsFolder, e.Path);
                string state = Directory.Exists(dir) ? "present" : e.Repo != null ? $"not downloaded ({e.Repo})" : "missing";
                Console.WriteLine($"{e.Name,-22} {e.Family,-8} {state,-40} drafts: {string.Join(", ", e.Drafts)}");
            }
            return 0;
        });
        return new Command("models", "Model registry commands.") { list };
    }
}
