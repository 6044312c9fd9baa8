using SpecCore.Tests;
using SpecCore.Tests.Fuzz;

// Long fuzz runs: cases (default 100,000), seed (default: the time), models folder (default: the tests' ../shared/models).
// --regressions DIR also writes the first failing input into DIR as a regression case (tests/Regressions replays every
// case there: RegressionReplayTests). On the first bad outcome the case folder is kept and printed, and the exit code is 1.
var positional = new List<string>();
string? regressions = null;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--regressions" && i + 1 < args.Length) regressions = Path.GetFullPath(args[++i]);
    else positional.Add(args[i]);
}
int cases = positional.Count > 0 ? int.Parse(positional[0]) : 100_000;
int seed = positional.Count > 1 ? int.Parse(positional[1]) : Environment.TickCount;
string models = positional.Count > 2 ? positional[2] : TestModels.Root;
using var fuzzer = new ModelFuzzer(models);
var counts = new Dictionary<FuzzKind, int>();
Console.Error.WriteLine($"fuzzing {cases} cases from seed {seed}");
var failure = fuzzer.RunBudget(cases, seed, TimeSpan.FromSeconds(30), counts, Console.Error.WriteLine, keepFailure: true, regressionFolder: regressions);
Console.Error.WriteLine(string.Join(", ", counts.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
if (failure is var (c, why))
{
    Console.WriteLine($"case {c.Index} ({c.Kind}): {c.Description}\nargs: {string.Join(' ', c.Args)}\noutcome: {why}\ninput kept in {c.Folder}");
    return 1;
}
Console.WriteLine($"{cases} cases: every one ended in success or one clear error");
return 0;
