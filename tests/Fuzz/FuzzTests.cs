using Xunit.Abstractions;

namespace SpecCore.Tests.Fuzz;

/// <summary>The CI fuzz budget: a fixed-seed run of <see cref="ModelFuzzer"/> over every input kind. Set
/// <c>SPECCORE_FUZZ_CASES</c> (and <c>SPECCORE_FUZZ_SEED</c>) for a longer run, or use <c>tools/Fuzz</c>.</summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>Cases CI runs (about a minute on 2 cores).</summary>
    public const int CiCases = 3000;

    [Fact]
    public void FixedSeedBudgetEndsInSuccessOrOneClearError()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("SPECCORE_FUZZ_CASES"), out int n) ? n : CiCases;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("SPECCORE_FUZZ_SEED"), out int s) ? s : 16;
        using var fuzzer = new ModelFuzzer(TestModels.Root);
        var counts = new Dictionary<FuzzKind, int>();
        var failure = fuzzer.RunBudget(cases, seed, TimeSpan.FromSeconds(30), counts, output.WriteLine);
        output.WriteLine(string.Join(", ", counts.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        if (failure is var (c, why))
            Assert.Fail($"fuzz case {c.Index} (seed {seed}, {c.Kind}): {c.Description}\nargs: {string.Join(' ', c.Args)}\noutcome: {why}");
        Assert.Equal(cases, counts.Values.Sum());
    }
}
