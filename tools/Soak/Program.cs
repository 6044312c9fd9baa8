using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Ilgpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;
using SpecCore.Tests;

// Generates `tokens` tokens (default 100,000) over many sequences of a target and its draft (default the main pair,
// stories2M ← stories260K): plain, draft-model chains, dynamic trees and prompt lookup, greedy and sampled, and prints
// the GC heap and RSS after the first round of sequences (past JIT and first-use buffers) and at the end, then the file
// descriptors and mappings of the model files left after the models are disposed.
// Arguments: [tokens] [device], or --tokens N --length L --device cpu|ilgpu-cpu|cuda|opencl --target NAME --draft NAME
// (names of folders in the shared models folder). ILGPU's CPU accelerator is slow: e.g.
// --tokens 3000 --length 50 --device ilgpu-cpu --target stories260K --draft tinystories-draft (--length: tokens per
// sequence, default 200).
var positional = new List<string>();
var named = new Dictionary<string, string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length) named[args[i][2..]] = args[++i];
    else positional.Add(args[i]);
}
int total = int.Parse(named.GetValueOrDefault("tokens") ?? (positional.Count > 0 ? positional[0] : "100000"));
string device = named.GetValueOrDefault("device") ?? (positional.Count > 1 ? positional[1] : "cpu");
string targetName = named.GetValueOrDefault("target") ?? "stories2M";
string draftName = named.GetValueOrDefault("draft") ?? "stories260K";
int length = int.Parse(named.GetValueOrDefault("length") ?? "200"); // tokens per sequence

static long Rss() => File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmRSS:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).First();
static long Heap() => GC.GetTotalMemory(forceFullCollection: true) / 1024;
static string[] Fds() => Directory.GetFiles("/proc/self/fd").Select(f => { try { return new FileInfo(f).LinkTarget ?? f; } catch (IOException) { return f; } }).ToArray();
static int ModelMaps() => File.ReadLines("/proc/self/maps").Count(l => l.Contains(".safetensors"));

string[] fdsBefore = Fds();
// On ILGPU's CPU accelerator every warp shuffle is a thread rendezvous: warps of 2, as the whole-model tests use.
IBackend backend = device == "cpu" ? new CpuBackend(2)
    : IlgpuBackend.Create(device, device == "ilgpu-cpu" ? new IlgpuOptions { CpuWarpSize = 2 } : new IlgpuOptions());
var target = LoadedModel.Load(TestModels.Path(targetName), backend);
var draft = LoadedModel.Load(TestModels.Path(draftName), backend);
Console.WriteLine($"soak: {total} tokens, {targetName} <- {draftName} on {device}");
int[][] prompts = { new[] { 1, 403, 407, 261, 378 }, new[] { 1, 76, 491, 9 }, new[] { 1 } };
var shapes = new (string Name, Func<IDrafter?> Drafter, GenerationOptions Options)[]
{
    ("plain", () => null, new GenerationOptions { MaxNewTokens = length, IgnoreEos = true }),
    ("chain k=4", () => new DraftModelDrafter(draft.Model, SamplingOptions.Greedy, "d"), new GenerationOptions { MaxNewTokens = length, IgnoreEos = true, DraftLength = DraftLengthPolicy.Fixed(4) }),
    ("tree dynamic:16", () => new DraftModelDrafter(draft.Model, SamplingOptions.Greedy, "d"), new GenerationOptions { MaxNewTokens = length, IgnoreEos = true, Tree = TreeSpec.Parse("dynamic:16") }),
    ("lookup", () => new PromptLookupDrafter(512), new GenerationOptions { MaxNewTokens = length, IgnoreEos = true, DraftLength = DraftLengthPolicy.Fixed(4) }),
    ("sampled chain", () => new DraftModelDrafter(draft.Model, new SamplingOptions(0.8f, 0, 1f, 7), "d"), new GenerationOptions { MaxNewTokens = length, IgnoreEos = true, DraftLength = DraftLengthPolicy.Fixed(3), Sampling = new SamplingOptions(0.8f, 0, 1f, 7) }),
};

long generated = 0, sequences = 0, heapStart = 0, rssStart = 0;
var start = System.Diagnostics.Stopwatch.StartNew();
while (generated < total)
{
    foreach (var (name, makeDrafter, options) in shapes)
    {
        foreach (int[] prompt in prompts)
        {
            using IDrafter? d = makeDrafter();
            using var g = new Generator(target.Model, d);
            generated += g.Generate(prompt, options).Tokens.Length;
            sequences++;
        }
    }
    if (device != "cpu") Console.WriteLine($"  {sequences} sequences, {generated} tokens, {start.Elapsed.TotalSeconds:F0} s: GC heap {Heap()} KiB, RSS {Rss()} KiB");
    if (heapStart == 0)
    {
        heapStart = Heap();
        rssStart = Rss();
        Console.WriteLine($"after {sequences} sequences ({generated} tokens): GC heap {heapStart} KiB, RSS {rssStart} KiB");
    }
}
long heapEnd = Heap(), rssEnd = Rss();
Console.WriteLine($"after {sequences} sequences ({generated} tokens, {start.Elapsed.TotalSeconds:F0} s, {device}): GC heap {heapEnd} KiB ({heapEnd - heapStart:+#;-#;0}), RSS {rssEnd} KiB ({rssEnd - rssStart:+#;-#;0})");
target.Dispose();
draft.Dispose();
backend.Dispose();
GC.Collect();
GC.WaitForPendingFinalizers();
string[] fdsAfter = Fds();
var added = fdsAfter.GroupBy(f => f).Select(g => (g.Key, Count: g.Count() - fdsBefore.Count(b => b == g.Key))).Where(x => x.Count > 0 && !x.Key.EndsWith(".dll")).ToList();
int modelFds = fdsAfter.Count(f => f.StartsWith(TestModels.Root));
// Assemblies the runtime loaded on the way stay mapped and are left out of the list.
Console.WriteLine($"after dispose: {modelFds} model files open, {ModelMaps()} mappings of .safetensors files; other new descriptors: {(added.Count == 0 ? "none" : string.Join(", ", added.Select(a => $"{a.Count}× {a.Key}")))}");
return 0;
