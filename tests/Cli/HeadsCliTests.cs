using SpecCore.Cli;
using SpecCore.Models;
using SpecCore.Tests.Speculation;

namespace SpecCore.Tests.Cli;

/// <summary><c>generate --heads</c> with random heads written for stories2M: speculative output equals plain greedy
/// (--compare exits 1 otherwise), and a broken head file is one error line.</summary>
public sealed class HeadsCliTests : IDisposable
{
    private readonly List<string> _folders = new();

    public void Dispose()
    {
        foreach (string f in _folders) Directory.Delete(f, true);
    }

    private static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), args, error, TextWriter.Null);
        return (code, error.ToString());
    }

    [Theory]
    [InlineData("eagle3", "4")]
    [InlineData("eagle3", "dynamic:8")]
    [InlineData("medusa", "dynamic:16")]
    public void GenerateWithHeadsMatchesPlain(string kind, string setting)
    {
        var config = ModelConfig.Load(TestModels.Path("stories2M"));
        string folder = kind == "eagle3" ? TestHeads.WriteEagle3(config, draftVocab: 256).Folder : TestMedusa.Write(config, heads: 3).Folder;
        _folders.Add(folder);
        string[] spec = setting.Contains(':') ? new[] { "--tree", setting } : new[] { "--spec-k", setting };
        var (code, error) = Run(new[] { "generate", "--model", TestModels.Path("stories2M"), "--heads", folder, "--device", "cpu", "-n", "24",
            "--prompt", "Once upon a time", "--compare" }.Concat(spec).ToArray());
        Assert.True(code == 0, error);
    }

    [Fact]
    public void BrokenHeadIsOneErrorLine()
    {
        var config = ModelConfig.Load(TestModels.Path("stories2M"));
        string folder = TestHeads.WriteEagle3(config, draftVocab: 256, tamper: (t, _) => t.Remove("norm.weight")).Folder;
        _folders.Add(folder);
        var (code, error) = Run("generate", "--model", TestModels.Path("stories2M"), "--heads", folder, "--device", "cpu", "-n", "4");
        Assert.Equal(CommandRunner.UserErrorExitCode, code);
        string[] lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("tensor 'norm.weight' is missing", lines[0]);
        Assert.DoesNotContain("   at ", error);
    }
}
