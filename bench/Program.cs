using BenchmarkDotNet.Running;
using SpecCore.Bench.Speculation;
using SpecCore.Models.Registry;

// Kernel microbenchmarks (BenchmarkDotNet):
//   dotnet run -c Release --project bench -- --list flat
//   dotnet run -c Release --project bench -- --filter '*MatMul*'
// Tree vs chain vs plain speculation on the shared pairs (same prompts, one run):
//   dotnet run -c Release --project bench -- trees [threads] [tokens]      (env CHAINS=1,4,15 TREES=sequoia:15,dynamic:15 PAIRS=stories2M)
// Drafting cost of a tree round against a chain of the same depth (main pair, interleaved repeats):
//   dotnet run -c Release --project bench -- draftcost [threads] [tokens] [repeats]   (env SETTINGS=k=16,dynamic:16)
// Re-measure the acceptance profiles that sequoia trees use (written to profiles/):
//   dotnet run -c Release --project bench -- profiles [threads]
// End-to-end figures (prefill, decode, verify-k, chains, simulated acceptance) come from `speccore bench`.
if (args.Length > 0 && args[0] == "draftcost")
{
    string? settings = Environment.GetEnvironmentVariable("SETTINGS");
    TreeDraftCost.Run(ModelRegistry.DefaultModelsFolder(), args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount, Console.Out,
        args.Length > 2 ? int.Parse(args[2]) : 128, args.Length > 3 ? int.Parse(args[3]) : 5, settings is { Length: > 0 } ? settings.Split(',') : null);
    return 0;
}
// The same weights as GGUF for llama.cpp (bench/llamacpp/compare.sh runs both side by side):
//   dotnet run -c Release --project bench -- gguf <preset|model folder> <f32|f16|bf16|q8_0|q4_0> <out.gguf>
if (args.Length > 0 && args[0] == "gguf")
{
    if (args.Length != 4) throw new ArgumentException("usage: gguf <preset|model folder> <f32|f16|bf16|q8_0|q4_0> <out.gguf>");
    SpecCore.Bench.Gguf.GgufExport.Run(args[1], SpecCore.Tensors.DTypeInfo.Parse(args[2]), args[3]);
    return 0;
}
if (args.Length > 0 && (args[0] == "trees" || args[0] == "profiles"))
{
    string models = ModelRegistry.DefaultModelsFolder();
    string profiles = FindProfiles();
    int threads = args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount;
    if (args[0] == "profiles")
    {
        TreeBenchmark.MeasureSharedProfiles(models, profiles, threads, Console.Out);
        return 0;
    }
    int tokens = args.Length > 2 ? int.Parse(args[2]) : 128;
    string[]? List(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Split(',') : null;
    TreeBenchmark.RunSharedPairs(models, profiles, threads, Console.Out, tokens,
        chains: List("CHAINS")?.Select(int.Parse).ToArray(), trees: List("TREES"), pairs: List("PAIRS"));
    return 0;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

static string FindProfiles()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir != null; dir = dir.Parent)
    {
        string candidate = Path.Combine(dir.FullName, "profiles");
        if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "SpecCore.sln"))) return candidate;
    }
    throw new DirectoryNotFoundException("profiles/ not found: run from inside the SpecCore checkout");
}
