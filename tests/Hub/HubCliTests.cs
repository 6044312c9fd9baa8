using SpecCore.Cli;

namespace SpecCore.Tests.Hub;

/// <summary>Tests that set the process's HF_* environment variables, so they run alone.</summary>
[CollectionDefinition(nameof(HubEnvironment), DisableParallelization = true)]
public sealed class HubEnvironment;

/// <summary><c>speccore models pull</c> and <c>--model owner/name</c> through the CLI in process, against a loopback hub
/// named by <c>HF_ENDPOINT</c> and a cache named by <c>HF_HUB_CACHE</c>.</summary>
[Collection(nameof(HubEnvironment))]
public sealed class HubCliTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("speccore-hubcli-").FullName;
    private readonly Dictionary<string, string?> _saved = new();

    public HubCliTests()
    {
        foreach (string name in new[] { "HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT", "HF_TOKEN" }) _saved[name] = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable("HF_HUB_CACHE", _cache);
        Environment.SetEnvironmentVariable("HF_TOKEN", null);
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved) Environment.SetEnvironmentVariable(name, value);
        Directory.Delete(_cache, recursive: true);
    }

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), args, error, output);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void APulledShardedModelGeneratesByItsRepoIdAsTheOriginalFolderDoes()
    {
        using var hub = new FakeHub("test-org/stories-sharded", HubTestRepos.Stories260KSharded());
        Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);

        var pull = Run("models", "pull", "test-org/stories-sharded");
        Assert.Equal(0, pull.Code);
        Assert.Equal(Path.Combine(_cache, "models--test-org--stories-sharded", "snapshots", hub.Commit), pull.Output.Trim());

        string[] generate = ["generate", "--prompt", "Once upon a time", "--max-tokens", "24", "--device", "cpu"];
        var fromCache = Run([.. generate, "--model", "test-org/stories-sharded"]);
        var fromFolder = Run([.. generate, "--model", TestModels.Path("stories260K")]);
        Assert.Equal(0, fromCache.Code);
        Assert.Equal(0, fromFolder.Code);
        Assert.NotEmpty(fromFolder.Output.Trim());
        Assert.Equal(fromFolder.Output, fromCache.Output);

        var list = Run("models", "list");
        Assert.Contains($"test-org/stories-sharded  present  {pull.Output.Trim()}", list.Output);
    }

    [Fact]
    public void ARegistryNamePullsItsRepoAndListShowsItPresent()
    {
        using var hub = new FakeHub("HuggingFaceTB/SmolLM2-135M", HubTestRepos.Stories260K());
        Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);

        Assert.Contains("not downloaded (hf: HuggingFaceTB/SmolLM2-135M)", Run("models", "list").Output);
        var pull = Run("models", "pull", "SmolLM2-135M");
        Assert.Equal(0, pull.Code);

        string line = Run("models", "list").Output.Split('\n').Single(l => l.StartsWith("SmolLM2-135M ", StringComparison.Ordinal));
        Assert.Contains("present (hf cache: HuggingFaceTB/SmolLM2-135M)", line);
        Assert.Equal(0, Run("generate", "--model", "SmolLM2-135M", "--prompt", "Once", "--max-tokens", "4", "--device", "cpu").Code);
    }

    [Fact]
    public void AStallIsOneErrorLineAndExitCode2()
    {
        using var hub = new FakeHub("test-org/stalls", HubTestRepos.Stories260K());
        hub.Behaviour["model.safetensors"] = Serving.Stall;
        Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);

        var pull = Run("models", "pull", "test-org/stalls", "--stall-timeout", "4");

        Assert.Equal(CommandRunner.UserErrorExitCode, pull.Code);
        string line = Assert.Single(pull.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: test-org/stalls/model.safetensors: no data for 4 s", line);
        var missing = Run("generate", "--model", "test-org/stalls", "--device", "cpu");
        Assert.Equal(CommandRunner.UserErrorExitCode, missing.Code);
        Assert.Contains("has no downloaded snapshot", missing.Error);
    }

    [Theory]
    [InlineData("stories2M", "is a local model of the registry")]
    [InlineData("not a repo", "neither a registry name nor a Hugging Face repo id")]
    public void PullArgumentsThatNameNoRepoAreClearErrors(string name, string expected)
    {
        var pull = Run("models", "pull", name);
        Assert.Equal(CommandRunner.UserErrorExitCode, pull.Code);
        Assert.Contains(expected, pull.Error);
    }
}
