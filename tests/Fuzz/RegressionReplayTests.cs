namespace SpecCore.Tests.Fuzz;

/// <summary>Replays every case under tests/Regressions (inputs the fuzzer and the reliability issue found) through the
/// CLI in process: each must give what its case.json expects, for an error one clear line naming the file or field,
/// exit code 2.</summary>
public sealed class RegressionReplayTests : IDisposable
{
    private readonly ModelFuzzer _fuzzer = new(TestModels.Root);

    public void Dispose() => _fuzzer.Dispose();

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (string c in RegressionInputs.Cases(RegressionInputs.SourceFolder())) data.Add(Path.GetFileName(c));
        return data;
    }

    [Fact]
    public void TheFolderHoldsTheKnownClasses() => Assert.True(CaseNames().Count >= 20, $"{CaseNames().Count} regression cases");

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void ReplayEndsAsExpected(string name)
    {
        string folder = Path.Combine(RegressionInputs.SourceFolder(), name);
        (string expect, string? contains) = RegressionInputs.Expectation(folder);
        FuzzCase c = RegressionInputs.Materialize(_fuzzer, folder, 0);

        string? why = ModelFuzzer.Run(c, TimeSpan.FromSeconds(30), out string error);

        Assert.True(why == null, $"{name} ({c.Description}): {why}");
        if (expect == "error")
        {
            string line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            if (contains != null) Assert.Contains(contains, line);
        }
    }

    [Fact]
    public void AFailingCaseIsSavedAndReplaysTheSameInput()
    {
        string outFolder = Directory.CreateTempSubdirectory("speccore-regress-").FullName;
        try
        {
            // A case as the fuzzer makes it: a NaN in one weight, kept as a splice of 4 bytes.
            FuzzCase original = Enumerable.Range(1, 200).Select(seed => _fuzzer.Make(new Random(seed), index: (int)FuzzKind.Weights))
                .First(c => c.Description.EndsWith("a NaN", StringComparison.Ordinal));
            Assert.Equal(FuzzKind.Weights, original.Kind);
            string? saved = RegressionInputs.Save(_fuzzer, original, "test", seed: 1, outFolder, out string? notSaved);
            Assert.True(saved != null, notSaved);
            Assert.All(Directory.GetFiles(saved!), f => Assert.True(new FileInfo(f).Length <= RegressionInputs.MaxKeptBytes));

            FuzzCase replayed = RegressionInputs.Materialize(_fuzzer, saved!, 0);
            foreach (string file in ModelFuzzer.ModelFiles)
                Assert.Equal(File.ReadAllBytes(Path.Combine(original.Folder, file)), File.ReadAllBytes(Path.Combine(replayed.Folder, file)));
            Assert.Equal(original.Args.Where((_, i) => i != 2), replayed.Args.Where((_, i) => i != 2));
            Assert.Equal(original.MustFail, replayed.MustFail);
        }
        finally
        {
            Directory.Delete(outFolder, recursive: true);
        }
    }
}
