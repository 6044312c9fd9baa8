using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SpecCore.Tests.Fuzz;

/// <summary>
/// Inputs the fuzzer (or an issue) found, kept under <c>tests/Regressions/&lt;case&gt;/</c> as small files and replayed
/// through the CLI. A case folder holds:
/// <list type="bullet">
/// <item><c>case.json</c>: <c>kind</c>, <c>description</c>, <c>expect</c> (<c>error</c>: one clear error line and
/// exit code 2; <c>success</c>: exit 0 with text; <c>either</c>: the fuzzer's rules), optional <c>contains</c> (text the
/// error line must hold), <c>args</c> (the command line without <c>--model</c>; default: the fuzzer's),
/// <c>special</c> (file name to <c>fifo</c>, <c>folder</c>, <c>dev-zero</c>, <c>dangling-link</c>, <c>link-chain</c>,
/// <c>empty</c>) and <c>found</c> (the outcome when it was found).</item>
/// <item>a model file (<c>config.json</c>, <c>tokenizer.json</c>, ...): replaces the pristine one;</item>
/// <item><c>&lt;file&gt;.splice.json</c>: <c>{"prefix": p, "middle": base64, "suffix": s}</c>, the pristine file's first p
/// bytes, then middle, then its last s bytes; so a weight edit or a new safetensors header is kilobytes, not the
/// model.</item>
/// </list>
/// Every other model file is a link to the pristine stories260K file (<see cref="ModelFuzzer"/>'s base folder).
/// </summary>
public static class RegressionInputs
{
    /// <summary>Largest file or splice middle kept: regressions are kilobytes, never weights.</summary>
    public const int MaxKeptBytes = 64 << 10;

    private const string TokenizerJsonName = "tokenizer.json";

    /// <summary>tests/Regressions in the source tree (found upward from the test binary, beside SpecCore.sln).</summary>
    public static string SourceFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SpecCore.sln"))) return Path.Combine(dir.FullName, "tests", "Regressions");
        throw new DirectoryNotFoundException("SpecCore.sln not found above the test binary");
    }

    /// <summary>The case folders under <paramref name="folder"/> (each holding a case.json), by name.</summary>
    public static IReadOnlyList<string> Cases(string folder) =>
        Directory.Exists(folder)
            ? Directory.GetDirectories(folder).Where(d => File.Exists(Path.Combine(d, "case.json"))).Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>The expectation of a case: "error", "success" or "either", and the text its error line must hold.</summary>
    public static (string Expect, string? Contains) Expectation(string caseFolder)
    {
        JsonObject c = ReadCase(caseFolder);
        return (c["expect"]?.GetValue<string>() ?? "error", c["contains"]?.GetValue<string>());
    }

    private static JsonObject ReadCase(string caseFolder) => JsonNode.Parse(File.ReadAllBytes(Path.Combine(caseFolder, "case.json")))!.AsObject();

    [DllImport("libc", SetLastError = true, EntryPoint = "mkfifo")]
    private static extern int MkFifo(string path, uint mode);

    /// <summary>Builds the model folder of <paramref name="caseFolder"/> in <paramref name="fuzzer"/>'s tree and returns the
    /// case to run.</summary>
    public static FuzzCase Materialize(ModelFuzzer fuzzer, string caseFolder, int index)
    {
        JsonObject c = ReadCase(caseFolder);
        var files = Directory.GetFiles(caseFolder).Select(Path.GetFileName).Where(f => f != "case.json").ToArray();
        bool tokenizerJson = files.Any(f => f!.StartsWith(TokenizerJsonName, StringComparison.Ordinal)) || c["kind"]?.GetValue<string>() == nameof(FuzzKind.TokenizerJson);
        string dir = fuzzer.NewFolder(tokenizerJson);
        foreach (string file in files!)
        {
            byte[] bytes;
            string target = file;
            if (file.EndsWith(".splice.json", StringComparison.Ordinal))
            {
                target = file[..^".splice.json".Length];
                JsonObject splice = JsonNode.Parse(File.ReadAllBytes(Path.Combine(caseFolder, file)))!.AsObject();
                byte[] pristine = File.ReadAllBytes(Path.Combine(dir, target));
                int prefix = splice["prefix"]!.GetValue<int>(), suffix = splice["suffix"]!.GetValue<int>();
                byte[] middle = Convert.FromBase64String(splice["middle"]!.GetValue<string>());
                bytes = [.. pristine.AsSpan(0, prefix), .. middle, .. pristine.AsSpan(pristine.Length - suffix)];
            }
            else
            {
                bytes = File.ReadAllBytes(Path.Combine(caseFolder, file));
            }
            File.Delete(Path.Combine(dir, target));
            File.WriteAllBytes(Path.Combine(dir, target), bytes);
        }
        if (c["special"] is JsonObject special)
        {
            foreach (var (file, how) in special)
            {
                string path = Path.Combine(dir, file);
                string real = File.ResolveLinkTarget(path, true)?.FullName ?? path;
                File.Delete(path);
                switch (how!.GetValue<string>())
                {
                    case "fifo" when OperatingSystem.IsLinux() && MkFifo(path, 0x1A4) == 0: break;
                    case "fifo" or "folder": Directory.CreateDirectory(path); break;
                    case "dev-zero": File.CreateSymbolicLink(path, "/dev/zero"); break;
                    case "dangling-link": File.CreateSymbolicLink(path, Path.Combine(dir, "nothing-here")); break;
                    case "link-chain":
                        File.CreateSymbolicLink(Path.Combine(dir, "hop-" + file), real);
                        File.CreateSymbolicLink(path, "hop-" + file);
                        break;
                    default: File.WriteAllBytes(path, []); break;
                }
            }
        }
        string expect = c["expect"]?.GetValue<string>() ?? "error";
        string[] args = c["args"] is JsonArray a ? a.Select(x => x!.GetValue<string>()).ToArray()
            : ["generate", "--device", "cpu", "--threads", "1", "-n", "6", "--prompt", "Once upon a time"];
        string[] withModel = [args[0], "--model", dir, .. args[1..]];
        Enum.TryParse(c["kind"]?.GetValue<string>(), out FuzzKind kind);
        return new FuzzCase(index, kind, c["description"]?.GetValue<string>() ?? Path.GetFileName(caseFolder), dir, withModel,
            MustFail: expect == "error", MustSucceed: expect == "success");
    }

    /// <summary>Writes <paramref name="c"/> (a case of <paramref name="fuzzer"/> that failed with <paramref name="why"/>)
    /// as a case folder under <paramref name="folder"/>; returns its path, or null (and why in
    /// <paramref name="notSaved"/>) when a changed file is too big to keep.</summary>
    public static string? Save(ModelFuzzer fuzzer, FuzzCase c, string why, int seed, string folder, out string? notSaved)
    {
        notSaved = null;
        var caseJson = new JsonObject
        {
            ["kind"] = c.Kind.ToString(),
            ["description"] = c.Description,
            ["expect"] = c.MustFail ? "error" : c.MustSucceed ? "success" : "either",
            ["found"] = why.Length <= 400 ? why : why[..400],
        };
        var keep = new Dictionary<string, byte[]>();
        var special = new JsonObject();
        foreach (string file in ModelFuzzer.ModelFiles.Append(TokenizerJsonName))
        {
            string path = Path.Combine(c.Folder, file);
            var info = new FileInfo(path);
            byte[] pristine = file == TokenizerJsonName ? fuzzer.TokenizerJson.ToArray() : File.ReadAllBytes(Path.Combine(fuzzer.BaseFolder, file));
            if (Directory.Exists(path)) { special[file] = "folder"; continue; }
            if (info.LinkTarget != null)
            {
                FileSystemInfo? target = info.ResolveLinkTarget(true);
                if (info.LinkTarget == "/dev/zero") special[file] = "dev-zero";
                else if (target == null || !target.Exists) special[file] = "dangling-link";
                else if (Path.GetFileName(info.LinkTarget).StartsWith("hop-", StringComparison.Ordinal)) special[file] = "link-chain";
                else if (target.FullName != Path.Combine(fuzzer.BaseFolder, file)) notSaved = $"{file} links to {info.LinkTarget}";
                continue; // a link to the pristine file: unchanged
            }
            if (!info.Exists) continue;
            if (info.Length == 0) { special[file] = c.Description.Contains("FIFO", StringComparison.Ordinal) ? "fifo" : "empty"; continue; }
            byte[] bytes = File.ReadAllBytes(path);
            if (bytes.AsSpan().SequenceEqual(pristine)) continue;
            if (bytes.Length <= MaxKeptBytes) { keep[file] = bytes; continue; }
            int prefix = bytes.AsSpan().CommonPrefixLength(pristine);
            int suffix = 0;
            while (suffix < bytes.Length - prefix && suffix < pristine.Length - prefix && bytes[^(suffix + 1)] == pristine[^(suffix + 1)]) suffix++;
            int middle = bytes.Length - prefix - suffix;
            if (middle > MaxKeptBytes)
            {
                notSaved = $"{file}: {middle} changed bytes, more than the {MaxKeptBytes} a regression case keeps";
                return null;
            }
            keep[file + ".splice.json"] = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
            {
                ["prefix"] = prefix,
                ["middle"] = Convert.ToBase64String(bytes, prefix, middle),
                ["suffix"] = suffix,
            });
        }
        if (notSaved != null) return null;
        if (special.Count > 0) caseJson["special"] = special;
        var args = new JsonArray();
        for (int i = 0; i < c.Args.Length; i++)
        {
            if (c.Args[i] == "--model") { i++; continue; }
            args.Add(c.Args[i]);
        }
        caseJson["args"] = args;
        string dir = Path.Combine(folder, $"{c.Kind.ToString().ToLowerInvariant()}-seed{seed}-case{c.Index}");
        Directory.CreateDirectory(dir);
        foreach (var (file, bytes) in keep) File.WriteAllBytes(Path.Combine(dir, file), bytes);
        File.WriteAllText(Path.Combine(dir, "case.json"), caseJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return dir;
    }
}
