using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using SpecCore.Cli;
using SpecCore.Kernels.Sampling;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Trees;
using SpecCore.Speculation.Verification;
using SpecCore.Tests.Fuzz;

namespace SpecCore.Tests.Reliability;

/// <summary>Issue #16's classes of bad input, each through the CLI: a clear one-line error (exit 2) naming the file
/// and the field or tensor, never garbage, a hang or an internal exception; and a valid model stored as links loads.</summary>
public sealed class ReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("speccore-rel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CopyModel(string name = "stories260K")
    {
        string dst = Path.Combine(_dir, name);
        Directory.CreateDirectory(dst);
        foreach (string f in Directory.GetFiles(TestModels.Path(name))) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }

    private static (int Code, string Error, string Output) Run(params string[] args)
    {
        var error = new StringWriter();
        var output = new StringWriter();
        int code = CommandRunner.Run(CliApp.CreateRoot(), args, error, output);
        return (code, error.ToString(), output.ToString());
    }

    private static (int, string, string) Generate(string model, params string[] extra) =>
        Run(new[] { "generate", "--model", model, "--device", "cpu", "--threads", "1", "-n", "4", "--prompt", "Once upon a time" }.Concat(extra).ToArray());

    private static string UserError((int Code, string Error, string Output) r, params string[] expected)
    {
        Assert.Equal(CommandRunner.UserErrorExitCode, r.Code);
        string[] lines = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.True(lines[0].Length <= 300, $"error line of {lines[0].Length} characters");
        Assert.DoesNotContain("System.", lines[0]);
        foreach (string e in expected) Assert.Contains(e, lines[0]);
        return lines[0];
    }

    private static (byte[] Header, byte[] Data) Split(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        return (bytes[8..(int)(8 + n)], bytes[(int)(8 + n)..]);
    }

    private static void Write(string path, byte[] header, byte[] data, long? lengthField = null)
    {
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes(lengthField ?? header.Length));
        f.Write(header);
        f.Write(data);
    }

    [Fact]
    public void HeaderLengthOneByteShortIsRefused()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        var (header, data) = Split(weights);
        // The header ends in padding spaces, so N - 1 still parses; every tensor would be read one byte off.
        Write(weights, header, data, header.Length - 1);
        UserError(Generate(model), "model.safetensors", "trailing bytes");
    }

    [Fact]
    public void TrailingBytesAfterTheDataAreRefused()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        var (header, data) = Split(weights);
        Write(weights, header, data.Concat(new byte[5]).ToArray());
        UserError(Generate(model), "model.safetensors", "5 trailing bytes");
    }

    [Fact]
    public void ShapeOfTenThousandOnesGivesAShortError()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        var (header, data) = Split(weights);
        string text = Encoding.UTF8.GetString(header);
        int at = text.IndexOf("\"shape\":", StringComparison.Ordinal);
        int end = text.IndexOf(']', at);
        text = text[..(at + 8)] + "[" + string.Join(",", Enumerable.Repeat("1", 10_000)) + text[end..];
        Write(weights, Encoding.UTF8.GetBytes(text), data);
        UserError(Generate(model), "model.safetensors", "10000 dimensions");
    }

    [Fact]
    public void ShapeProductOverflowIsRefusedNamingTheTensor()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        var (header, data) = Split(weights);
        string text = Encoding.UTF8.GetString(header);
        int at = text.IndexOf("\"shape\":", StringComparison.Ordinal);
        int end = text.IndexOf(']', at);
        text = text[..(at + 8)] + "[2147483647,2147483647,2147483647" + text[end..];
        Write(weights, Encoding.UTF8.GetBytes(text), data);
        UserError(Generate(model), "model.safetensors", "tensor '", "needs more bytes than the data section");
    }

    [Fact]
    public void ModelStoredAsSymbolicLinksLoads()
    {
        // The Hugging Face cache: snapshots/<rev>/<file> -> ../../blobs/<sha>.
        string blobs = Path.Combine(_dir, "blobs");
        string snapshot = Path.Combine(_dir, "snapshot");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (string f in Directory.GetFiles(TestModels.Path("stories260K")))
        {
            string blob = Path.Combine(blobs, Path.GetFileName(f) + ".blob");
            File.Copy(f, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(f)), Path.Combine("..", "blobs", Path.GetFileName(blob)));
        }
        var r = Generate(snapshot);
        Assert.True(r.Item1 == 0, r.Item2);
        Assert.StartsWith("Once upon a time", r.Item3);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "mkfifo")]
    private static extern int MkFifo(string path, uint mode);

    [Theory]
    [InlineData("config.json")]
    [InlineData("tokenizer.model")]
    [InlineData("model.safetensors")]
    public async Task FifoIsRefusedWithoutBlocking(string file)
    {
        if (!OperatingSystem.IsLinux()) return;
        string model = CopyModel();
        string path = Path.Combine(model, file);
        File.Delete(path);
        Assert.Equal(0, MkFifo(path, 0x1A4));
        var task = Task.Run(() => Generate(model));
        Assert.True(await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20))) == task, "generate blocked on a FIFO");
        UserError(await task, file, "not a regular file");
    }

    [Fact]
    public void FolderInPlaceOfConfigIsRefused()
    {
        string model = CopyModel();
        File.Delete(Path.Combine(model, "config.json"));
        Directory.CreateDirectory(Path.Combine(model, "config.json"));
        UserError(Generate(model), "config.json", "is a folder");
    }

    private static void PutFloat(string weights, string tensor, int element, float value)
    {
        byte[] bytes = File.ReadAllBytes(weights);
        long n = BitConverter.ToInt64(bytes, 0);
        using var doc = System.Text.Json.JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        long begin = doc.RootElement.GetProperty(tensor).GetProperty("data_offsets")[0].GetInt64();
        BitConverter.TryWriteBytes(bytes.AsSpan((int)(8 + n + begin + 4 * element), 4), value);
        File.WriteAllBytes(weights, bytes);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    public void NonFiniteWeightIsRefusedNamingTheTensor(float value, string shown)
    {
        string model = CopyModel();
        PutFloat(Path.Combine(model, "model.safetensors"), "model.layers.2.mlp.up_proj.weight", 17, value);
        UserError(Generate(model), "'model.layers.2.mlp.up_proj.weight'", shown, "must be finite");
    }

    [Fact]
    public void AllZeroMatrixIsRefused()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        for (int i = 0; i < 64 * 64; i++) PutFloat(weights, "model.layers.0.self_attn.q_proj.weight", i, 0f);
        UserError(Generate(model), "'model.layers.0.self_attn.q_proj.weight'", "all zeros");
    }

    [Fact]
    public void F16OverflowIsRefusedNamingTheTensor()
    {
        string model = CopyModel();
        PutFloat(Path.Combine(model, "model.safetensors"), "model.layers.1.self_attn.o_proj.weight", 3, 1e6f);
        UserError(Generate(model, "--dtype", "f16"), "'model.layers.1.self_attn.o_proj.weight'", "F16 range");
    }

    [Fact]
    public void DraftWithNaNWeightsIsRefusedUnderSampling()
    {
        string draft = CopyModel("tinystories-draft");
        PutFloat(Path.Combine(draft, "model.safetensors"), "model.layers.0.mlp.down_proj.weight", 5, float.NaN);
        UserError(Generate(TestModels.Path("stories260K"), "--draft", draft, "--temperature", "0.8"), "tinystories-draft", "must be finite");
    }

    [Fact]
    public void ExtremeWeightThatOverflowsStopsWithAnError()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        for (int i = 0; i < 64; i++) PutFloat(weights, "model.norm.weight", i, 3e38f);
        UserError(Generate(model), "stories260K", "logits are not finite");
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("1e39")]
    public void HugeRmsNormEpsIsRefused(string eps)
    {
        string model = CopyModel();
        string config = Path.Combine(model, "config.json");
        string text = System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(config), "\"rms_norm_eps\": [^,}]+", $"\"rms_norm_eps\": {eps}");
        File.WriteAllText(config, text);
        UserError(Generate(model), "config.json", "rms_norm_eps");
    }

    [Fact]
    public void TokenizerWithFarFewerIdsThanTheModelIsRefused()
    {
        string model = CopyModel();
        File.WriteAllBytes(Path.Combine(model, "tokenizer.json"), ModelFuzzer.SmallTokenizerJson(TestModels.Path("qwen3-tokenizer/tokenizer.json"), 300));
        UserError(Generate(model), "covers 300 token ids", "vocab_size is 512");
    }

    [Fact]
    public void TokenizerWithIdsPastTheEmbeddingIsRefused()
    {
        string model = CopyModel();
        File.Copy(TestModels.Path("tiny-qwen3/tokenizer.json"), Path.Combine(model, "tokenizer.json"));
        UserError(Generate(model), "151669 token ids", "vocab_size is 512");
    }

    [Fact]
    public void TokenizerIdNear2To31IsRefusedBeforeAllocating()
    {
        string model = CopyModel();
        string json = Encoding.UTF8.GetString(ModelFuzzer.SmallTokenizerJson(TestModels.Path("qwen3-tokenizer/tokenizer.json"), 512));
        json = json.Replace("\"id\":496", "\"id\":2147483000");
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), json);
        long before = GC.GetAllocatedBytesForCurrentThread();
        UserError(Generate(model), "tokenizer.json", "2147483000");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1L << 30);
    }

    [Fact]
    public void HugeCountsAreRefusedBeforeAllocating()
    {
        string model = CopyModel();
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 2000000000"));
        UserError(Generate(model), "config.json", "num_hidden_layers");
    }

    [Theory]
    [InlineData("--ctx-size", "abc", "as an integer")]
    [InlineData("--threads", "x", "as an integer")]
    [InlineData("--max-tokens", "1.5", "as an integer")]
    [InlineData("--temperature", "hot", "as a number")]
    [InlineData("--seed", "-1", "as a non-negative integer")]
    public void OptionErrorsSayWhatWasExpectedInWords(string option, string value, string expected)
    {
        string line = UserError(Run("generate", "--model", TestModels.Path("stories260K"), "--device", "cpu", option, value), option, expected);
        Assert.DoesNotContain("Nullable", line);
        Assert.DoesNotContain("Int32", line);
    }

    [Fact]
    public void InvalidUtf8InTheSafetensorsHeaderNamesTheFile()
    {
        string model = CopyModel();
        string weights = Path.Combine(model, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        int at = Array.IndexOf(bytes, (byte)'m', 8); // inside the first tensor name
        bytes[at] = 0xFF;
        File.WriteAllBytes(weights, bytes);
        UserError(Generate(model), "model.safetensors", "UTF-8");
    }

    [Fact]
    public void VerifierRejectsAnInvalidDraftDistributionAndKeepsTheTarget()
    {
        // Target distribution over 4 tokens; a draft whose distribution is all NaN proposes token 3.
        const int vocab = 4;
        float[] logits = { 1f, 0f, 2f, -1f, 1f, 0f, 2f, -1f };
        double[] p = logits.Take(vocab).Select(x => Math.Exp(x)).ToArray();
        double z = p.Sum();
        var counts = new int[vocab];
        var sampler = new Sampler(vocab, new SamplingOptions(1f, 0, 1f, 7));
        var verifier = new TreeVerifier(sampler);
        var tree = new DraftTree(1, vocab, 1);
        var result = new VerificationResult(1);
        const int trials = 20_000;
        for (int i = 0; i < trials; i++)
        {
            tree.Clear();
            int d = tree.AddDistribution(new[] { float.NaN, float.NaN, float.NaN, float.NaN });
            tree.Add(3, -1, float.NaN, d);
            verifier.Verify(tree, logits, result);
            Assert.True(result.InvalidDraft);
            Assert.Equal(0, result.AcceptedCount);
            counts[result.NextToken]++;
        }
        for (int t = 0; t < vocab; t++) Assert.InRange(counts[t] / (double)trials, p[t] / z - 0.02, p[t] / z + 0.02);
    }

    [Fact]
    public void NonFiniteTargetLogitsAreNotSampled()
    {
        var sampler = new Sampler(4, new SamplingOptions(0.8f, 0, 1f, 1));
        Assert.Throws<NonFiniteLogitsException>(() => sampler.Sample(new[] { 0f, float.NaN, 1f, 2f }));
        Assert.Throws<NonFiniteLogitsException>(() => Sampler.CheckedArgMax(new[] { 0f, float.PositiveInfinity, 1f }));
        Assert.False(sampler.TryDistribution(new[] { 0f, float.NaN, 1f, 2f }, new float[4]));
    }

    [Fact]
    public void TokenizerVocabularyRule()
    {
        var tok = TokenizerLoader.Load(TestModels.Path("stories260K"));
        TokenizerLoader.CheckMatchesModel(tok, 512, "m");            // equal
        TokenizerLoader.CheckMatchesModel(tok, 600, "m");            // padding rows within 128 + vocab/16
        Assert.Throws<InvalidDataException>(() => TokenizerLoader.CheckMatchesModel(tok, 500, "m"));
        Assert.Throws<InvalidDataException>(() => TokenizerLoader.CheckMatchesModel(tok, 1000, "m"));
    }
}
