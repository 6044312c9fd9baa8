using SpecCore.Cli;

namespace SpecCore.Tests.Cli;

/// <summary>User errors reach the user as one line and exit code 2, never as a stack trace.</summary>
public sealed class CliErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("speccore-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), args, error);
        return (code, error.ToString());
    }

    private static void AssertUserError((int Code, string Error) result, string expected)
    {
        Assert.Equal(CommandRunner.UserErrorExitCode, result.Code);
        string[] lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", result.Error);
    }

    private string CopyModel(string name)
    {
        string dst = Path.Combine(_dir, name);
        Directory.CreateDirectory(dst);
        foreach (string f in Directory.GetFiles(TestModels.Path(name))) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }

    [Fact]
    public void MissingModelFolder() => AssertUserError(Run("generate", "--model", Path.Combine(_dir, "nope"), "--device", "cpu"), "no model folder or registry entry");

    [Fact]
    public void TruncatedSafetensors()
    {
        string model = CopyModel("stories260K");
        string weights = Path.Combine(model, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        AssertUserError(Run("generate", "--model", model, "--device", "cpu"), "model.safetensors");
    }

    [Fact]
    public void ConfigWithMissingField()
    {
        string model = CopyModel("stories260K");
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_hidden_layers\": 5,", ""));
        AssertUserError(Run("generate", "--model", model, "--device", "cpu"), "missing required field 'num_hidden_layers'");
    }

    [Fact]
    public void UnknownModelFamily()
    {
        string model = CopyModel("stories260K");
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"model_type\": \"llama\"", "\"model_type\": \"bert\""));
        AssertUserError(Run("generate", "--model", model, "--device", "cpu"), "model family 'bert' is not supported");
    }

    [Fact]
    public void PromptLongerThanContext()
    {
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 60));
        AssertUserError(Run("generate", "--model", TestModels.Path("stories2M"), "--prompt", prompt, "--device", "cpu"), "but the context holds 256");
    }

    [Fact]
    public void DraftPairCappedAtSmallerContext()
    {
        // stories260K has a 512 context but its draft only 256: a 300-token prompt must be refused clearly.
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 40));
        AssertUserError(Run("generate", "--model", TestModels.Path("stories260K"), "--draft", TestModels.Path("tinystories-draft"), "--prompt", prompt, "--device", "cpu"),
            "but the context holds 256");
    }

    [Theory]
    [InlineData("--temperature", "-1", "temperature must be")]
    [InlineData("--top-p", "1.5", "top-p must be")]
    [InlineData("--spec-k", "zero", "--spec-k must be")]
    [InlineData("--device", "tpu", "unknown device 'tpu'")]
    [InlineData("--dtype", "int3", "unknown dtype 'int3'")]
    [InlineData("--threads", "0", "--threads must be at least 1")]
    [InlineData("--drafter", "medusa", "unknown --drafter 'medusa'")]
    public void BadOptionValues(string option, string value, string expected) =>
        AssertUserError(option == "--device"
            ? Run("generate", "--model", TestModels.Path("stories260K"), option, value)
            : Run("generate", "--model", TestModels.Path("stories260K"), "--device", "cpu", option, value), expected);

    [Fact]
    public void UnknownOption() => AssertUserError(Run("generate", "--model", "x", "--frobnicate"), "--frobnicate");

    [Fact]
    public void MissingRequiredOption() => AssertUserError(Run("generate"), "--model");

    [Fact]
    public void BenchNeedsOneModel() => AssertUserError(Run("bench"), "exactly one of --model or --synthetic");

    [Fact]
    public void UnknownSyntheticPreset() => AssertUserError(Run("bench", "--synthetic", "gpt5", "--device", "cpu"), "unknown synthetic preset 'gpt5'");

    [Theory]
    [InlineData("1000", "--ctx-size 1000 is more than the model's context of 512 tokens")]
    [InlineData("0", "--ctx-size must be at least 1")]
    public void CtxSizeOutsideTheModelIsRefused(string size, string expected) =>
        AssertUserError(Run("generate", "--model", TestModels.Path("stories260K"), "--ctx-size", size, "--device", "cpu"), expected);

    [Fact]
    public void PromptThatDoesNotFitTheCtxSize() =>
        AssertUserError(Run("generate", "--model", TestModels.Path("stories260K"), "--prompt", "Once upon a time there was", "-c", "4", "--device", "cpu"),
            "but the context holds 4 (prompt plus at least one new token; --ctx-size can raise it up to the model's 512)");

    [Fact]
    public void IgnoreEosThatCannotGenerateEveryTokenIsRefused() =>
        AssertUserError(Run("generate", "--model", TestModels.Path("stories260K"), "--prompt", "Once", "--ignore-eos", "--max-tokens", "600", "--device", "cpu"),
            "--ignore-eos generates exactly --max-tokens tokens, but the prompt's 2 plus 600 new tokens exceed the context of 512");

    [Fact]
    public void EmptyStopStringIsRefused() =>
        AssertUserError(Run("generate", "--model", TestModels.Path("stories260K"), "--stop", "", "--device", "cpu"), "--stop needs a non-empty string");

    [Fact]
    public void NewGenerateOptionsSayWhatTheyDo()
    {
        var options = SpecCore.Cli.Commands.GenerateCommand.Create().Options.ToDictionary(o => o.Name);
        foreach (string name in new[] { "--stop", "--special", "--ctx-size", "--ignore-eos" })
        {
            Assert.True(options.TryGetValue(name, out var option), $"generate has no {name}");
            Assert.True(option!.Description is { Length: > 40 }, $"{name} needs a description in words");
        }
        Assert.Contains("4096", options["--ctx-size"].Description);
        Assert.Contains("exactly", options["--ignore-eos"].Description);
    }

    [Fact]
    public void GenerateTakesStopSpecialAndCtxSize()
    {
        var result = Run("generate", "--model", TestModels.Path("stories260K"), "--drafter", "lookup", "--max-tokens", "40", "--ignore-eos", "--ctx-size", "64",
            "--stop", "girl", "--stop", "zzz", "--special", "--device", "cpu", "--threads", "1");
        Assert.Equal(0, result.Code);
    }

    [Fact]
    public void GenerateSucceedsOnARealModel()
    {
        var result = Run("generate", "--model", TestModels.Path("stories260K"), "--drafter", "lookup", "--max-tokens", "8", "--device", "cpu", "--threads", "1");
        Assert.Equal(0, result.Code);
    }
}
