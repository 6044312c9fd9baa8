using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecCore.Cli;

namespace SpecCore.Tests.Fuzz;

/// <summary>What a fuzz case mutates.</summary>
public enum FuzzKind
{
    /// <summary>config.json: values, types, keys, bytes.</summary>
    ConfigJson,
    /// <summary>generation_config.json.</summary>
    GenerationConfig,
    /// <summary>tokenizer_config.json.</summary>
    TokenizerConfig,
    /// <summary>tokenizer.model (SentencePiece protobuf): bytes, truncation, length varints.</summary>
    TokenizerModel,
    /// <summary>a tokenizer.json (byte-level BPE) cut from the Qwen3 tokenizer to the model's 512 ids.</summary>
    TokenizerJson,
    /// <summary>the safetensors JSON header (re-serialised with a correct length field).</summary>
    SafetensorsHeader,
    /// <summary>the safetensors length field, data section size and raw bytes.</summary>
    SafetensorsBytes,
    /// <summary>NaN, infinity, all-zero or extreme weights; --dtype f16 overflow.</summary>
    Weights,
    /// <summary>FIFOs, folders, devices and links in place of a file.</summary>
    SpecialFile,
    /// <summary>command-line option values.</summary>
    Options,
}

/// <summary>One generated input: a model folder (links to the pristine files, one file mutated) and the arguments.</summary>
/// <param name="Index">Case number within its run.</param>
/// <param name="Kind">What was mutated.</param>
/// <param name="Description">How, in words (printed with a failure).</param>
/// <param name="Folder">The model folder.</param>
/// <param name="Args">The CLI arguments.</param>
/// <param name="MustFail">The mutation destroys the model (NaN weights, a lying length field): exit 0 is garbage.</param>
/// <param name="MustSucceed">The input is valid (e.g. a symbolic link to the real file): an error is a refusal of a valid model.</param>
public sealed record FuzzCase(int Index, FuzzKind Kind, string Description, string Folder, string[] Args, bool MustFail, bool MustSucceed);

/// <summary>
/// Mutates copies of a real model folder (stories260K, with a tokenizer.json cut from Qwen3's) and runs each
/// through the CLI entry in process with a deadline. Every input must end in success with sane output (exit 0,
/// text on stdout) or in one clear error (exit 2, one line starting "error: ", under 300 characters, naming the
/// file or option, no .NET exception or type name) — never an internal exception, a hang, or exit 0 for an input
/// known to be destroyed.
/// </summary>
public sealed class ModelFuzzer : IDisposable
{
    private static readonly FuzzKind[] Kinds = Enum.GetValues<FuzzKind>();
    private static readonly string[] BaseFiles = { "config.json", "generation_config.json", "tokenizer.model", "tokenizer_config.json", "model.safetensors" };
    private readonly string _root;
    private readonly string _base;         // pristine stories260K files
    private readonly byte[] _tokenizerJson; // the small byte-level BPE tokenizer.json
    private readonly byte[] _weights;
    private readonly long _headerLength;
    private readonly JsonObject _header;
    private int _folder;

    /// <summary>Builds the pristine folder under a new temporary folder.</summary>
    public ModelFuzzer(string modelsRoot)
    {
        _root = Directory.CreateTempSubdirectory("speccore-fuzz-").FullName;
        _base = Path.Combine(_root, "base");
        Directory.CreateDirectory(_base);
        foreach (string f in BaseFiles) File.Copy(Path.Combine(modelsRoot, "stories260K", f), Path.Combine(_base, f));
        _tokenizerJson = SmallTokenizerJson(Path.Combine(modelsRoot, "qwen3-tokenizer", "tokenizer.json"), 512);
        _weights = File.ReadAllBytes(Path.Combine(_base, "model.safetensors"));
        _headerLength = BitConverter.ToInt64(_weights, 0);
        _header = JsonNode.Parse(_weights.AsSpan(8, (int)_headerLength))!.AsObject();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The Qwen3 tokenizer.json cut to <paramref name="ids"/> ids: its first byte-level entries, the merges among
    /// them, and its first added tokens renumbered to the top ids (a real file's structure, fast to parse).</summary>
    public static byte[] SmallTokenizerJson(string path, int ids)
    {
        JsonObject root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
        JsonObject model = root["model"]!.AsObject();
        int added = 16;
        var vocab = new JsonObject();
        var kept = new HashSet<string>();
        foreach (var (token, id) in model["vocab"]!.AsObject())
        {
            if (id!.GetValue<int>() < ids - added)
            {
                vocab[token] = id.GetValue<int>();
                kept.Add(token);
            }
        }
        var merges = new JsonArray();
        foreach (JsonNode? m in model["merges"]!.AsArray())
        {
            string[] parts = m is JsonArray a ? new[] { a[0]!.GetValue<string>(), a[1]!.GetValue<string>() } : m!.GetValue<string>().Split(' ');
            if (parts.Length == 2 && kept.Contains(parts[0]) && kept.Contains(parts[1]) && kept.Contains(parts[0] + parts[1])) merges.Add(m!.DeepClone());
        }
        model["vocab"] = vocab;
        model["merges"] = merges;
        var addedTokens = new JsonArray();
        int next = ids - added;
        foreach (JsonNode? t in root["added_tokens"]!.AsArray().Take(added))
        {
            JsonNode c = t!.DeepClone();
            c["id"] = next++;
            addedTokens.Add(c);
        }
        root["added_tokens"] = addedTokens;
        root["post_processor"] = null;
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    /// <summary>The pristine stories260K files every case starts from.</summary>
    public string BaseFolder => _base;

    /// <summary>The small tokenizer.json the TokenizerJson cases start from.</summary>
    public ReadOnlySpan<byte> TokenizerJson => _tokenizerJson;

    /// <summary>The names of the model files a case folder holds (tokenizer.json besides, in TokenizerJson cases).</summary>
    public static IReadOnlyList<string> ModelFiles => BaseFiles;

    /// <summary>A new case folder: links to the pristine files (and the small tokenizer.json when asked).</summary>
    public string NewFolder(bool withTokenizerJson)
    {
        string dir = Path.Combine(_root, $"case{_folder++}");
        Directory.CreateDirectory(dir);
        // Links to the pristine files, as the Hugging Face cache stores them: every case also checks links are followed.
        foreach (string f in BaseFiles) File.CreateSymbolicLink(Path.Combine(dir, f), Path.Combine(_base, f));
        if (withTokenizerJson) File.WriteAllBytes(Path.Combine(dir, "tokenizer.json"), _tokenizerJson);
        return dir;
    }

    private static void Replace(string dir, string file, byte[] bytes)
    {
        string path = Path.Combine(dir, file);
        File.Delete(path);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Creates case <paramref name="index"/> from <paramref name="rng"/>.</summary>
    public FuzzCase Make(Random rng, int index)
    {
        FuzzKind kind = Kinds[index % Kinds.Length];
        var args = new List<string> { "generate", "--device", "cpu", "--threads", "1", "-n", "6", "--prompt", "Once upon a time" };
        if (rng.Next(4) == 0) args.AddRange(new[] { "--temperature", "0.8", "--seed", rng.Next(1000).ToString() });
        string dir = NewFolder(withTokenizerJson: kind == FuzzKind.TokenizerJson);
        bool mustFail = false, mustSucceed = false;
        string what;
        switch (kind)
        {
            case FuzzKind.ConfigJson:
            case FuzzKind.GenerationConfig:
            case FuzzKind.TokenizerConfig:
            case FuzzKind.TokenizerJson:
            {
                string file = kind switch
                {
                    FuzzKind.ConfigJson => "config.json",
                    FuzzKind.GenerationConfig => "generation_config.json",
                    FuzzKind.TokenizerConfig => "tokenizer_config.json",
                    _ => "tokenizer.json",
                };
                byte[] original = kind == FuzzKind.TokenizerJson ? _tokenizerJson : File.ReadAllBytes(Path.Combine(_base, file));
                (byte[] bytes, what) = JsonMutations.Mutate(original, rng);
                Replace(dir, file, bytes);
                what = $"{file}: {what}";
                break;
            }
            case FuzzKind.TokenizerModel:
            {
                (byte[] bytes, what) = ByteMutations.Mutate(File.ReadAllBytes(Path.Combine(_base, "tokenizer.model")), rng, protobuf: true);
                Replace(dir, "tokenizer.model", bytes);
                what = $"tokenizer.model: {what}";
                break;
            }
            case FuzzKind.SafetensorsHeader:
                (what, mustFail) = MutateHeader(dir, rng);
                break;
            case FuzzKind.SafetensorsBytes:
                (what, mustFail) = MutateWeightBytes(dir, rng);
                break;
            case FuzzKind.Weights:
                (what, mustFail) = MutateWeights(dir, rng, args);
                break;
            case FuzzKind.SpecialFile:
                (what, mustFail, mustSucceed) = SpecialFile(dir, rng);
                break;
            default:
                what = OptionMutation(rng, args);
                break;
        }
        args.InsertRange(1, new[] { "--model", dir });
        return new FuzzCase(index, kind, what, dir, args.ToArray(), mustFail, mustSucceed);
    }

    private (string What, bool MustFail) MutateHeader(string dir, Random rng)
    {
        var header = (JsonObject)_header.DeepClone();
        string[] names = header.Select(p => p.Key).Where(k => k != "__metadata__").ToArray();
        string name = names[rng.Next(names.Length)];
        JsonObject t = header[name]!.AsObject();
        string what;
        bool mustFail = true;
        switch (rng.Next(12))
        {
            case 0: t["shape"] = new JsonArray(Enumerable.Repeat(1, 10_000).Select(x => (JsonNode)x).ToArray()); what = "a shape of 10,000 ones"; break;
            case 1: t["shape"] = new JsonArray(1L << 40, 1L << 40); what = "a shape of 2^40 x 2^40"; break;
            case 2: t["shape"] = new JsonArray(-1, 64); what = "a negative shape"; break;
            case 3: t["shape"] = new JsonArray(int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue); what = "a shape whose product overflows a long"; break;
            case 4: t["dtype"] = rng.Next(2) == 0 ? "F64" : "BOOL"; what = "a wrong dtype"; break;
            case 5: t["data_offsets"] = new JsonArray(0, 4); what = "data_offsets overlapping another tensor"; break;
            case 6:
            {
                var o = t["data_offsets"]!.AsArray();
                long b = o[0]!.GetValue<long>(), e = o[1]!.GetValue<long>();
                long shift = rng.Next(2) == 0 ? 1 : -4;
                t["data_offsets"] = new JsonArray(b + shift, e + shift);
                what = $"data_offsets shifted by {shift}";
                break;
            }
            case 7: header.Remove(name); what = $"tensor '{name}' removed"; break;
            case 8: t["shape"] = "64"; what = "shape as a string"; break;
            case 9: t["data_offsets"] = new JsonArray(0, long.MaxValue); what = "data_offsets to 2^63"; break;
            case 10: header["__metadata__"] = new JsonObject { ["format"] = new JsonArray(1, 2) }; what = "metadata with a non-string value"; mustFail = false; break;
            default: t.Remove("dtype"); what = "dtype missing"; break;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        if (what.StartsWith("tensor '", StringComparison.Ordinal))
        {
            // Removing a tensor leaves its bytes in the data section; those bytes now belong to no tensor.
        }
        WriteSafetensors(dir, json, _weights.AsSpan(8 + (int)_headerLength));
        return ($"model.safetensors header: {what} ('{name}')", mustFail);
    }

    private static void WriteSafetensors(string dir, ReadOnlySpan<byte> header, ReadOnlySpan<byte> data, long? lengthField = null)
    {
        string path = Path.Combine(dir, "model.safetensors");
        File.Delete(path);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes(lengthField ?? header.Length));
        f.Write(header);
        f.Write(data);
    }

    private (string What, bool MustFail) MutateWeightBytes(string dir, Random rng)
    {
        ReadOnlySpan<byte> header = _weights.AsSpan(8, (int)_headerLength);
        ReadOnlySpan<byte> data = _weights.AsSpan(8 + (int)_headerLength);
        switch (rng.Next(8))
        {
            case 0:
            {
                long delta = new long[] { -1, 1, -8, 8, 100 }[rng.Next(5)];
                WriteSafetensors(dir, header, data, _headerLength + delta);
                return ($"model.safetensors: header length field off by {delta}", true);
            }
            case 1: WriteSafetensors(dir, header, data, new long[] { 0, long.MaxValue, -1, 1L << 40 }[rng.Next(4)]); return ("model.safetensors: absurd header length field", true);
            case 2:
            {
                byte[] extra = new byte[rng.Next(1, 64)];
                var all = new byte[data.Length + extra.Length];
                data.CopyTo(all);
                WriteSafetensors(dir, header, all);
                return ($"model.safetensors: {extra.Length} trailing bytes", true);
            }
            case 3:
            {
                int cut = rng.Next(0, _weights.Length);
                Replace(dir, "model.safetensors", _weights.AsSpan(0, cut).ToArray());
                return ($"model.safetensors: truncated to {cut} bytes", true);
            }
            case 4:
            {
                // A byte flip in the header JSON (may leave it valid: then any outcome but a crash is fine).
                byte[] copy = (byte[])_weights.Clone();
                copy[8 + rng.Next((int)_headerLength)] ^= (byte)(1 << rng.Next(8));
                Replace(dir, "model.safetensors", copy);
                return ("model.safetensors: a bit flipped in the header", false);
            }
            case 5:
            {
                byte[] copy = (byte[])_weights.Clone();
                copy[8 + _headerLength + rng.Next(data.Length)] ^= (byte)(1 << rng.Next(7)); // not the top (sign) bit: sometimes an exponent bit
                Replace(dir, "model.safetensors", copy);
                return ("model.safetensors: a bit flipped in the data", false);
            }
            case 6:
            {
                byte[] copy = (byte[])_weights.Clone();
                copy[8 + rng.Next((int)_headerLength)] = (byte)(0x80 | rng.Next(64)); // invalid UTF-8 in the header
                Replace(dir, "model.safetensors", copy);
                return ("model.safetensors: invalid UTF-8 in the header", false);
            }
            default:
                Replace(dir, "model.safetensors", ByteMutations.Mutate(_weights.AsSpan(0, Math.Min(_weights.Length, 4096)).ToArray(), rng, protobuf: false).Bytes);
                return ("model.safetensors: first 4 KiB mutated, the rest dropped", true);
        }
    }

    private (string What, bool MustFail) MutateWeights(string dir, Random rng, List<string> args)
    {
        byte[] copy = (byte[])_weights.Clone();
        string[] names = _header.Select(p => p.Key).Where(k => k != "__metadata__").ToArray();
        string name = names[rng.Next(names.Length)];
        var offsets = _header[name]!["data_offsets"]!.AsArray();
        long begin = 8 + _headerLength + offsets[0]!.GetValue<long>(), end = 8 + _headerLength + offsets[1]!.GetValue<long>();
        int elements = (int)((end - begin) / 4);
        int at = rng.Next(elements);
        void Put(int i, float v) => BitConverter.TryWriteBytes(copy.AsSpan((int)begin + 4 * i, 4), v);
        string what;
        bool mustFail = true;
        switch (rng.Next(5))
        {
            case 0: Put(at, float.NaN); what = "a NaN"; break;
            case 1: Put(at, rng.Next(2) == 0 ? float.PositiveInfinity : float.NegativeInfinity); what = "an infinity"; break;
            case 2: for (int i = 0; i < elements; i++) Put(i, 0f); what = "all zeros"; break;
            case 3: Put(at, 1e6f); args.AddRange(new[] { "--dtype", "f16" }); what = "1e6 with --dtype f16 (F16 overflow)";
                mustFail = _header[name]!["shape"]!.AsArray().Count == 2; // norm vectors stay F32
                break;
            default: Put(at, 3e38f); what = "an extreme finite value 3e38"; mustFail = false; break; // fails or not, by whether it overflows
        }
        Replace(dir, "model.safetensors", copy);
        return ($"model.safetensors: tensor '{name}' element {at}: {what}", mustFail);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "mkfifo")]
    private static extern int MkFifo(string path, uint mode);

    private static (string What, bool MustFail, bool MustSucceed) SpecialFile(string dir, Random rng)
    {
        string file = BaseFiles[rng.Next(BaseFiles.Length)];
        string path = Path.Combine(dir, file);
        string realTarget = File.ResolveLinkTarget(path, true)!.FullName;
        File.Delete(path);
        switch (rng.Next(6))
        {
            case 0:
                if (!OperatingSystem.IsLinux() || MkFifo(path, 0x1A4) != 0) goto case 1;
                return ($"{file} is a FIFO", true, false);
            case 1: Directory.CreateDirectory(path); return ($"{file} is a folder", true, false);
            case 2: File.CreateSymbolicLink(path, "/dev/zero"); return ($"{file} links to /dev/zero", true, false);
            case 3: File.CreateSymbolicLink(path, Path.Combine(dir, "nothing-here")); return ($"{file} is a dangling link", file != "generation_config.json" && file != "tokenizer_config.json", false);
            case 4:
            {
                // A chain of links (the HF cache: snapshots -> blobs), relative: valid.
                string hop = Path.Combine(dir, "hop-" + file);
                File.CreateSymbolicLink(hop, realTarget);
                File.CreateSymbolicLink(path, Path.GetFileName(hop));
                return ($"{file} is a relative link to a link to the real file", false, true);
            }
            default:
                File.WriteAllBytes(path, []);
                return ($"{file} is empty", file != "generation_config.json" && file != "tokenizer_config.json", false);
        }
    }

    private static string OptionMutation(Random rng, List<string> args)
    {
        string[] options = { "--max-tokens", "--threads", "--ctx-size", "--temperature", "--top-k", "--top-p", "--seed", "--spec-k", "--dtype", "--tree" };
        string[] values = { "abc", "-1", "0", "1.5", "1e99", "NaN", "99999999999", "", "--", "1", "7", "0.5", "inf", "-0", "0x10", "２" };
        string option = options[rng.Next(options.Length)];
        string value = values[rng.Next(values.Length)];
        args.AddRange(new[] { option, value });
        return $"option {option} '{value}'";
    }

    /// <summary>Runs <paramref name="c"/> through the CLI in process; returns null when the outcome is acceptable,
    /// else why not.</summary>
    public static string? Run(FuzzCase c, TimeSpan deadline) => Run(c, deadline, out _);

    /// <summary><see cref="Run(FuzzCase, TimeSpan)"/> that also returns what the CLI wrote to stderr.</summary>
    public static string? Run(FuzzCase c, TimeSpan deadline, out string errorText)
    {
        errorText = "";
        var error = new StringWriter();
        var output = new StringWriter();
        var task = Task.Run(() => CommandRunner.Run(CliApp.CreateRoot(), c.Args, error, output));
        try
        {
            if (!task.Wait(deadline)) return $"no result within {deadline.TotalSeconds:F0} s (a hang)";
        }
        catch (AggregateException e)
        {
            return $"unhandled {e.InnerException?.GetType().Name}: {e.InnerException?.Message}";
        }
        int code = task.Result;
        string err = errorText = error.ToString();
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (code == 0)
        {
            if (c.MustFail) return $"exit 0 for a destroyed input (garbage): {Trim(output.ToString())}";
            if (output.ToString().Length == 0) return "exit 0 with no output";
            if (Environment.WorkingSet > 8L << 30) return $"working set {Environment.WorkingSet >> 20} MiB after the case";
            return null;
        }
        if (code != CommandRunner.UserErrorExitCode) return $"exit code {code}: {Trim(err)}";
        if (c.MustSucceed) return $"a valid input was refused: {Trim(err)}";
        if (lines.Length != 1) return $"{lines.Length} error lines: {Trim(err)}";
        string line = lines[0].TrimEnd('\r');
        if (!line.StartsWith("error: ", StringComparison.Ordinal)) return $"error line does not start with 'error: ': {Trim(line)}";
        if (line.Length > CommandRunner.MaxErrorLineLength) return $"error line of {line.Length} characters";
        if (System.Text.RegularExpressions.Regex.IsMatch(line, @"^error: \w+(Exception|Error): ")) return $"internal error: {Trim(line)}";
        if (line.Contains("System.", StringComparison.Ordinal) || line.Contains("`1", StringComparison.Ordinal)) return $".NET type name in the error: {Trim(line)}";
        if (c.Kind != FuzzKind.Options && !line.Contains(c.Folder, StringComparison.Ordinal) && !line.Contains("tokenizer", StringComparison.Ordinal)
            && !BaseFiles.Any(f => line.Contains(f, StringComparison.Ordinal)) && !line.Contains("prompt", StringComparison.Ordinal))
            return $"error names no file: {Trim(line)}";
        return null;
    }

    private static string Trim(string s) => s.Length <= 400 ? s.ReplaceLineEndings(" ") : s[..400].ReplaceLineEndings(" ") + "...";

    /// <summary>Runs <paramref name="cases"/> cases from <paramref name="seed"/>; returns the first failure (the case and
    /// why), or null. <paramref name="counts"/> gets the cases run per kind. With <paramref name="keepFailure"/> the
    /// failing case's folder is copied out of the temporary tree (links resolved) so it survives disposal.
    /// With <paramref name="regressionFolder"/> the failing input is also written there as a regression case
    /// (<see cref="RegressionInputs"/>), for the replay test.</summary>
    public (FuzzCase Case, string Why)? RunBudget(int cases, int seed, TimeSpan deadline, Dictionary<FuzzKind, int> counts, Action<string>? log = null,
        bool keepFailure = false, string? regressionFolder = null)
    {
        var rng = new Random(seed);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            FuzzCase c = Make(rng, i);
            string? why = Run(c, deadline);
            counts[c.Kind] = counts.GetValueOrDefault(c.Kind) + 1;
            if (why != null)
            {
                if (regressionFolder != null)
                {
                    string? saved = RegressionInputs.Save(this, c, why, seed, regressionFolder, out string? notSaved);
                    log?.Invoke(saved != null ? $"regression case written to {saved}" : $"regression case not written: {notSaved}");
                }
                if (!keepFailure) return (c, why);
                string kept = Directory.CreateTempSubdirectory("speccore-fuzz-found-").FullName;
                foreach (string f in Directory.GetFileSystemEntries(c.Folder))
                {
                    var info = new FileInfo(f);
                    FileSystemInfo? target = info.LinkTarget != null ? info.ResolveLinkTarget(true) : info;
                    if (target is { Exists: true } && File.Exists(target.FullName) && new FileInfo(target.FullName).Length > 0)
                        File.Copy(target.FullName, Path.Combine(kept, Path.GetFileName(f)));
                }
                return (c with { Folder = kept }, why);
            }
            try { Directory.Delete(c.Folder, recursive: true); } catch (IOException) { }
            if (log != null && (i + 1) % 500 == 0) log($"{i + 1} cases, {watch.Elapsed.TotalSeconds:F0} s");
        }
        return null;
    }
}

/// <summary>Mutations of JSON files: values of every type at a random key, deleted, duplicated and renamed keys,
/// deep nesting, invalid UTF-8, and raw byte edits.</summary>
public static class JsonMutations
{
    private static readonly Func<Random, (JsonNode? Value, string What)>[] Values =
    {
        _ => (JsonValue.Create(int.MaxValue), "2^31-1"),
        _ => (JsonValue.Create(1L << 40), "2^40"),
        _ => (JsonValue.Create(-1), "-1"),
        _ => (JsonValue.Create(int.MinValue), "-2^31"),
        _ => (JsonValue.Create(0), "0"),
        _ => (JsonValue.Create(1e300), "1e300"),
        _ => (JsonValue.Create(0.5), "0.5"),
        _ => (JsonValue.Create("abc"), "a string"),
        _ => (JsonValue.Create("Infinity"), "'Infinity'"),
        _ => (null, "null"),
        _ => (JsonValue.Create(true), "true"),
        _ => (new JsonArray(), "[]"),
        _ => (new JsonObject(), "{}"),
        _ => (new JsonArray(1, 2, 3), "[1, 2, 3]"),
        r => (JsonValue.Create(new string('x', r.Next(1, 100_000))), "a long string"),
    };

    /// <summary>Returns a mutated copy of <paramref name="json"/> and what was done.</summary>
    public static (byte[] Bytes, string What) Mutate(byte[] json, Random rng)
    {
        int choice = rng.Next(10);
        if (choice == 0) return ByteMutations.Mutate(json, rng, protobuf: false);
        if (choice == 1) return (Encoding.UTF8.GetBytes(new string('[', 100_000) + new string(']', 100_000)), "100,000 nested arrays");
        JsonNode root;
        try
        {
            root = JsonNode.Parse(json)!;
        }
        catch (JsonException)
        {
            return ByteMutations.Mutate(json, rng, protobuf: false);
        }
        var containers = new List<JsonNode>();
        Collect(root, containers, 0);
        JsonNode target = containers[rng.Next(containers.Count)];
        string path = target.GetPath();
        switch (choice)
        {
            case 2:
            case 3:
            case 4:
            case 5:
            {
                var (value, what) = Values[rng.Next(Values.Length)](rng);
                if (target is JsonObject o && o.Count > 0)
                {
                    string key = o.ElementAt(rng.Next(o.Count)).Key;
                    o[key] = value;
                    return (Bytes(root), $"{path}.{key} = {what}");
                }
                if (target is JsonArray a && a.Count > 0)
                {
                    int i = rng.Next(a.Count);
                    a[i] = value;
                    return (Bytes(root), $"{path}[{i}] = {what}");
                }
                return (Bytes(root), "unchanged");
            }
            case 6:
            {
                if (target is JsonObject o && o.Count > 0)
                {
                    string key = o.ElementAt(rng.Next(o.Count)).Key;
                    o.Remove(key);
                    return (Bytes(root), $"{path}.{key} removed");
                }
                return (Bytes(root), "unchanged");
            }
            case 7:
            {
                // A duplicate key, written at the text level (JsonNode cannot hold one).
                if (target is JsonObject o && o.Count > 0)
                {
                    var (key, value) = o.ElementAt(rng.Next(o.Count));
                    string dup = $"{JsonSerializer.Serialize(key)}: {(value == null ? "null" : "12345")}, ";
                    o["__marker__"] = 0;
                    string text = root.ToJsonString().Replace("\"__marker__\":0", dup.TrimEnd(' ', ','));
                    return (Encoding.UTF8.GetBytes(text), $"{path}.{key} duplicated");
                }
                return (Bytes(root), "unchanged");
            }
            case 8:
            {
                // Invalid UTF-8 inside a string value.
                byte[] bytes = Bytes(root);
                int quote = Array.IndexOf(bytes, (byte)'"', rng.Next(bytes.Length));
                if (quote < 0) quote = Array.IndexOf(bytes, (byte)'"');
                var list = bytes.ToList();
                list.InsertRange(quote + 1, new byte[] { 0xC3, 0x28, 0xFF });
                return (list.ToArray(), "invalid UTF-8 in a string");
            }
            default:
            {
                var deep = (JsonNode)new JsonArray();
                for (int i = 0; i < 300; i++) deep = new JsonArray(deep);
                if (target is JsonObject o && o.Count > 0) o[o.ElementAt(rng.Next(o.Count)).Key] = deep;
                return (Bytes(root), $"{path}: a value nested 300 deep");
            }
        }
    }

    private static void Collect(JsonNode? node, List<JsonNode> into, int depth)
    {
        if (node is JsonObject o)
        {
            into.Add(o);
            if (depth < 3) foreach (var (_, v) in o.Take(64)) Collect(v, into, depth + 1);
        }
        else if (node is JsonArray a)
        {
            into.Add(a);
            if (depth < 3) foreach (var v in a.Take(16)) Collect(v, into, depth + 1);
        }
    }

    private static byte[] Bytes(JsonNode root) => Encoding.UTF8.GetBytes(root.ToJsonString());
}

/// <summary>Raw byte mutations: flips, truncation, insertion, deletion, and (for protobuf) length varints that lie.</summary>
public static class ByteMutations
{
    /// <summary>Returns a mutated copy of <paramref name="bytes"/> and what was done.</summary>
    public static (byte[] Bytes, string What) Mutate(byte[] bytes, Random rng, bool protobuf)
    {
        byte[] copy = (byte[])bytes.Clone();
        int n = copy.Length;
        switch (rng.Next(protobuf ? 7 : 5))
        {
            case 0:
            {
                int flips = rng.Next(1, 8);
                for (int i = 0; i < flips; i++) copy[rng.Next(n)] ^= (byte)(1 << rng.Next(8));
                return (copy, $"{flips} bits flipped");
            }
            case 1:
            {
                int cut = rng.Next(n);
                return (copy[..cut], $"truncated to {cut} bytes");
            }
            case 2:
            {
                var list = copy.ToList();
                int at = rng.Next(n);
                list.InsertRange(at, Enumerable.Range(0, rng.Next(1, 16)).Select(_ => (byte)rng.Next(256)));
                return (list.ToArray(), $"random bytes inserted at {at}");
            }
            case 3:
            {
                int at = rng.Next(n), count = Math.Min(n - at, rng.Next(1, 16));
                var list = copy.ToList();
                list.RemoveRange(at, count);
                return (list.ToArray(), $"{count} bytes deleted at {at}");
            }
            case 4:
            {
                int at = rng.Next(n);
                copy[at] = 0xFF;
                return (copy, $"byte {at} set to 0xFF");
            }
            default:
            {
                // A length-delimited field (wire type 2) whose length varint now claims up to 2^35 bytes.
                int at = rng.Next(n - 6);
                while (at < n - 6 && (copy[at] & 7) != 2) at++;
                if (at >= n - 6) return (copy, "unchanged");
                for (int i = 1; i <= 4; i++) copy[at + i] = 0xFF;
                copy[at + 5] = 0x0F;
                return (copy, $"length varint at {at} claims 2^35 bytes");
            }
        }
    }
}
