using SpecCore.Cli;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary><c>speccore train-head</c>: bad options are one line naming the option, exit code 2; text data trains.</summary>
public sealed class TrainHeadCliTests : IDisposable
{
    private readonly string _dir = TinyTarget.TempDirectory("cli");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Error, string Output) Run(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), args, error, output);
        return (code, error.ToString(), output.ToString());
    }

    private void AssertUserError(string expected, params string[] extra)
    {
        string model = TinyTarget.Create(Path.Combine(_dir, "target"));
        var args = new[] { "train-head", "--model", model, "--out", Path.Combine(_dir, "head") }.Concat(extra).ToArray();
        var (code, error, _) = Run(args);
        Assert.Equal(CommandRunner.UserErrorExitCode, code);
        string[] lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void UnknownKind() => AssertUserError("--kind must be eagle3 or medusa", "--data", "self", "--kind", "eagle2");

    [Fact]
    public void ZeroSteps() => AssertUserError("--steps must be at least 1", "--data", "self", "--steps", "0");

    [Fact]
    public void ZeroSelfTemperature() => AssertUserError("--self-temperature must be above 0", "--data", "self", "--self-temperature", "0");

    [Fact]
    public void SequenceBeyondTheContext() => AssertUserError("exceeds the target's context of 64", "--data", "self", "--seq", "100");

    [Fact]
    public void ResumeWithoutState() => AssertUserError("no resume state", "--data", "self", "--resume", "--seq", "24", "--self-sequences", "4", "--batch", "1");

    [Fact]
    public void MissingTextFile() => AssertUserError("--data file not found", "--data", Path.Combine(_dir, "none.txt"), "--seq", "24");

    [Fact]
    public void TrainsOnTextFiles()
    {
        string model = TinyTarget.Create(Path.Combine(_dir, "target"));
        string text = Path.Combine(_dir, "stories.txt");
        File.WriteAllText(text, string.Join("\n\n", Enumerable.Range(0, 40).Select(i =>
            $"Once upon a time there was a little dog named Spot number {i}. Spot liked to run in the park with his friend.")));
        string head = Path.Combine(_dir, "head");
        var (code, error, output) = Run("train-head", "--model", model, "--kind", "medusa", "--data", text, "--out", head,
            "--steps", "3", "--batch", "2", "--seq", "24", "--medusa-heads", "2", "--threads", "1");
        Assert.True(code == 0, error);
        Assert.Contains("step 3/3 loss", output);
        Assert.Contains("held-out: loss", output);
        Assert.True(File.Exists(Path.Combine(head, HeadCheckpoint.MedusaWeightsFile)));
        Assert.True(File.Exists(Path.Combine(head, "config.json")));
    }
}
