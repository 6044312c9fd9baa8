namespace SpecCore.Tests;

/// <summary>Finds the shared model folder: $SPECCORE_MODELS, else ../shared/models beside the folder holding SpecCore.sln.</summary>
public static class TestModels
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The models folder.</summary>
    public static string Root => s_root.Value;

    /// <summary>A path inside the models folder.</summary>
    public static string Path(string name) => System.IO.Path.Combine(Root, name);

    private static string FindRoot()
    {
        string? env = Environment.GetEnvironmentVariable("SPECCORE_MODELS");
        if (!string.IsNullOrEmpty(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "SpecCore.sln")))
            {
                string candidate = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared", "models"));
                if (Directory.Exists(candidate)) return candidate;
                throw new DirectoryNotFoundException($"shared models not found at {candidate}; set SPECCORE_MODELS");
            }
        }
        throw new DirectoryNotFoundException("SpecCore.sln not found above the test binary; set SPECCORE_MODELS");
    }
}
