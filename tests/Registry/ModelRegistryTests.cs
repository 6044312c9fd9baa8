using System.Security.Cryptography;
using SpecCore.Cli.Commands;
using SpecCore.Models.Registry;

namespace SpecCore.Tests.Registry;

/// <summary>models.json loads, names the Hugging Face models people expect with their repos and draft pairs, registers
/// the shared folders (with their checksums), and <c>models list</c> says which are present.</summary>
public class ModelRegistryTests
{
    private static string RegistryFile()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SpecCore.sln"))) return Path.Combine(dir.FullName, "models.json");
        throw new FileNotFoundException("SpecCore.sln not found above the test binary");
    }

    // An empty Hugging Face cache, so that models a developer downloaded do not change what these tests see.
    private static ModelRegistry Registry() => ModelRegistry.LoadFile(RegistryFile(), TestModels.Root,
        new SpecCore.Models.Hub.HuggingFaceCache(Path.Combine(Path.GetTempPath(), "speccore-no-hf-cache")));

    public static TheoryData<string, string, string, string, int> HubModels => new()
    {
        { "Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "qwen2", "bf16", 32768 },
        { "Qwen3-0.6B", "Qwen/Qwen3-0.6B", "qwen3", "bf16", 40960 },
        { "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "llama", "bf16", 8192 },
        { "SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct", "llama", "bf16", 8192 },
        { "Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-1B-Instruct", "llama", "bf16", 131072 },
        { "TinyLlama-1.1B-Chat", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "llama", "bf16", 2048 },
        { "Mistral-7B-Instruct-v0.1", "mistralai/Mistral-7B-Instruct-v0.1", "mistral", "bf16", 32768 },
    };

    [Theory]
    [MemberData(nameof(HubModels))]
    public void HubModelsAreRegisteredWithTheirRepos(string name, string repo, string family, string dtype, int context)
    {
        RegistryEntry e = Registry().Entries.Single(x => x.Name == name);
        Assert.Equal(repo, e.Repo);
        Assert.Equal(family, e.Family);
        Assert.Equal(dtype, e.DType);
        Assert.Equal(context, e.Context);
        Assert.Equal(name, e.Path); // downloaded into the folder of its name
        Assert.Contains("lookup", e.Drafts);
    }

    [Fact]
    public void DraftPairsNameRegisteredModels()
    {
        ModelRegistry registry = Registry();
        Assert.Equal(new[] { "SmolLM2-135M-Instruct", "lookup" }, registry.Entries.Single(e => e.Name == "SmolLM2-360M-Instruct").Drafts);
        Assert.Equal(new[] { "lookup" }, registry.Entries.Single(e => e.Name == "Qwen3-0.6B").Drafts);
        var names = registry.Entries.Select(e => e.Name).ToHashSet();
        foreach (RegistryEntry e in registry.Entries)
            foreach (string d in e.Drafts)
                Assert.True(d == "lookup" || names.Contains(d), $"{e.Name}: draft '{d}' is not in the registry");
    }

    [Theory]
    [InlineData("tiny-qwen3", "qwen3", "bf16", 512)]
    [InlineData("tiny-llama3", "llama", "bf16", 1024)]
    [InlineData("tiny-qwen2", "qwen2", "f16", 256)]
    [InlineData("tiny-mistral", "mistral", "f32", 256)]
    public void ArchitectureProbesAreRegisteredAndPresent(string name, string family, string dtype, int context)
    {
        ModelRegistry registry = Registry();
        RegistryEntry e = registry.Entries.Single(x => x.Name == name);
        Assert.Null(e.Repo);
        Assert.Equal((family, dtype, context), (e.Family, e.DType!, e.Context!.Value));
        Assert.True(registry.IsPresent(e));
        Assert.Equal(Path.GetFullPath(TestModels.Path(name)), Path.GetFullPath(registry.Resolve(name)));
    }

    [Fact]
    public void LocalEntriesMatchTheirChecksums()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(RegistryFile()));
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
        {
            if (!m.TryGetProperty("path", out var path)) continue;
            foreach (var file in m.GetProperty("files").EnumerateObject())
            {
                using var stream = File.OpenRead(Path.Combine(TestModels.Path(path.GetString()!), file.Name));
                Assert.Equal(file.Value.GetString(), Convert.ToHexStringLower(SHA256.HashData(stream)));
            }
        }
    }

    [Fact]
    public void ModelsListShowsPresentAndNotDownloaded()
    {
        var lines = ModelsCommand.Describe(Registry()).ToList();
        Assert.StartsWith("models folder: ", lines[0]);
        string Line(string name) => lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.Contains("present", Line("tiny-qwen3"));
        Assert.Contains("qwen3", Line("tiny-qwen3"));
        Assert.Contains("present", Line("stories2M"));
        Assert.Contains("not downloaded (hf: Qwen/Qwen3-0.6B)", Line("Qwen3-0.6B"));
        Assert.Contains("131072", Line("Llama-3.2-1B-Instruct"));
        Assert.Contains("SmolLM2-135M-Instruct, lookup", Line("SmolLM2-360M-Instruct"));
        Assert.DoesNotContain("present", Line("Mistral-7B-Instruct-v0.1"));
    }

    [Fact]
    public void ANotDownloadedModelIsAClearError()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => Registry().Resolve("Qwen2.5-0.5B-Instruct"));
        Assert.Contains("not downloaded", e.Message);
        Assert.Contains("Qwen/Qwen2.5-0.5B-Instruct", e.Message);
    }
}
