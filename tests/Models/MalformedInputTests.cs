using System.Text;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Safetensors;

namespace SpecCore.Tests.Models;

/// <summary>Every kind of malformed checkpoint gets its own clear error naming the file, the tensor and the problem.</summary>
public sealed class MalformedInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("speccore-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteSafetensors(string header, int dataBytes, string name = "model.safetensors", long? lyingLength = null)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        string path = Path.Combine(_dir, name);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes(lyingLength ?? h.Length));
        f.Write(h);
        f.Write(new byte[dataBytes]);
        return path;
    }

    private InvalidDataException OpenFails(string path) => Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void TruncatedFile()
    {
        string path = Path.Combine(_dir, "model.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Contains("too short", OpenFails(path).Message);
    }

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        var e = OpenFails(WriteSafetensors("{}", 0, lyingLength: 1_000_000));
        Assert.Contains("runs past the end of the file", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void HeaderNotJson() => Assert.Contains("not valid JSON", OpenFails(WriteSafetensors("{\"a\": [1, 2", 16)).Message);

    [Fact]
    public void HeaderNotAnObject() => Assert.Contains("does not start with '{'", OpenFails(WriteSafetensors("[1, 2, 3]", 0)).Message);

    [Fact]
    public void UnknownDtype()
    {
        var e = OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("F8_E4M3", e.Message);
    }

    [Fact]
    public void OffsetsOutOfRange()
    {
        var e = OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8));
        Assert.Contains("run past the data section", e.Message);
    }

    [Fact]
    public void DecreasingOffsets() =>
        Assert.Contains("not an increasing range", OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8)).Message);

    [Fact]
    public void OverlappingRanges()
    {
        var e = OpenFails(WriteSafetensors(
            "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24));
        Assert.Contains("overlap", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void ShapeDoesNotMatchByteRange()
    {
        var e = OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"BF16\", \"shape\": [3, 4], \"data_offsets\": [0, 16]}}", 16));
        Assert.Contains("needs 24 bytes", e.Message);
    }

    [Fact]
    public void NegativeShape() =>
        Assert.Contains("not a non-negative integer", OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4)).Message);

    [Fact]
    public void MissingDataOffsets() =>
        Assert.Contains("data_offsets", OpenFails(WriteSafetensors("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4)).Message);

    private static ModelConfig Tiny => BatchForwardTests.TinyConfig(tied: true);

    private void WriteTinyCheckpoint(Func<string, bool>? keep = null, Func<string, int[], int[]>? reshape = null)
    {
        using var synthetic = new SyntheticWeights(Tiny, seed: 1);
        var header = new StringBuilder("{");
        var data = new MemoryStream();
        foreach (string name in AllTensorNames(Tiny))
        {
            if (keep != null && !keep(name)) continue;
            var t = synthetic.Get(name, ShapeOf(name, Tiny));
            int[] shape = reshape?.Invoke(name, t.Shape) ?? t.Shape;
            long bytes = shape.Aggregate(4L, (a, d) => a * d);
            if (header.Length > 1) header.Append(',');
            header.Append($"\"{name}\": {{\"dtype\": \"F32\", \"shape\": [{string.Join(",", shape)}], \"data_offsets\": [{data.Length}, {data.Length + bytes}]}}");
            // Small finite non-zero weights (0x3C3C3C3C is 0.0115f): all-zero matrices are refused as damaged.
            data.Write(Enumerable.Repeat((byte)0x3C, (int)bytes).ToArray());
        }
        header.Append('}');
        byte[] h = Encoding.UTF8.GetBytes(header.ToString());
        using (var f = File.Create(Path.Combine(_dir, "model.safetensors")))
        {
            f.Write(BitConverter.GetBytes((long)h.Length));
            f.Write(h);
            data.Position = 0;
            data.CopyTo(f);
        }
    }

    internal static IEnumerable<string> AllTensorNames(ModelConfig c)
    {
        yield return "model.embed_tokens.weight";
        for (int l = 0; l < c.Layers; l++)
            foreach (string s in new[] { "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
                yield return $"model.layers.{l}.{s}.weight";
        yield return "model.norm.weight";
    }

    private static int[] ShapeOf(string name, ModelConfig c) => name switch
    {
        _ when name.EndsWith("norm.weight") => new[] { c.HiddenSize },
        "model.embed_tokens.weight" => new[] { c.VocabSize, c.HiddenSize },
        _ when name.Contains("q_proj") => new[] { c.QueryDim, c.HiddenSize },
        _ when name.Contains("k_proj") || name.Contains("v_proj") => new[] { c.KvDim, c.HiddenSize },
        _ when name.Contains("o_proj") => new[] { c.HiddenSize, c.QueryDim },
        _ when name.Contains("down_proj") => new[] { c.HiddenSize, c.IntermediateSize },
        _ => new[] { c.IntermediateSize, c.HiddenSize },
    };

    private InvalidDataException BuildFails()
    {
        using var weights = CheckpointWeights.Open(_dir);
        using var backend = new CpuBackend(1);
        return Assert.Throws<InvalidDataException>(() => TransformerModel.Create(Tiny, weights, backend).Dispose());
    }

    [Fact]
    public void WellFormedTinyCheckpointLoads()
    {
        WriteTinyCheckpoint();
        using var weights = CheckpointWeights.Open(_dir);
        using var backend = new CpuBackend(1);
        using var model = TransformerModel.Create(Tiny, weights, backend);
        Assert.Equal(Tiny.Layers, Tiny.Layers);
    }

    [Fact]
    public void MissingTensor()
    {
        WriteTinyCheckpoint(keep: n => n != "model.layers.1.mlp.up_proj.weight");
        var e = BuildFails();
        Assert.Contains("'model.layers.1.mlp.up_proj.weight' is missing", e.Message);
    }

    [Fact]
    public void WrongShapeForConfig()
    {
        WriteTinyCheckpoint(reshape: (n, s) => n == "model.layers.0.self_attn.k_proj.weight" ? new[] { s[0] * 2, s[1] } : s);
        var e = BuildFails();
        Assert.Contains("'model.layers.0.self_attn.k_proj.weight' has shape [32, 32]", e.Message);
        Assert.Contains("config implies [16, 32]", e.Message);
    }

    [Fact]
    public void ShardIndexNamesMissingTensor()
    {
        WriteTinyCheckpoint();
        File.Move(Path.Combine(_dir, "model.safetensors"), Path.Combine(_dir, "model-00001-of-00001.safetensors"));
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00001.safetensors\", \"lm_head.weight\": \"model-00001-of-00001.safetensors\"}}");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointWeights.Open(_dir).Dispose());
        Assert.Contains("'lm_head.weight'", e.Message);
    }

    [Fact]
    public void ShardedCheckpointLoads()
    {
        WriteTinyCheckpoint();
        File.Move(Path.Combine(_dir, "model.safetensors"), Path.Combine(_dir, "model-00001-of-00001.safetensors"));
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00001.safetensors\"}}");
        using var weights = CheckpointWeights.Open(_dir);
        Assert.True(weights.Contains("model.layers.0.mlp.up_proj.weight"));
    }

    private const string GoodConfig = "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 32, \"max_position_embeddings\": 64}";

    [Fact]
    public void ConfigDefaults()
    {
        var c = ModelConfig.Parse(GoodConfig);
        Assert.Equal(4, c.KvHeads);
        Assert.Equal(16, c.HeadDim);
        Assert.Null(c.RopeScaling);
    }

    [Theory]
    [InlineData("\"hidden_size\": 64, ", "missing required field 'hidden_size'")]
    [InlineData("\"model_type\": \"llama\"", "model family 'gpt2' is not supported", "\"model_type\": \"gpt2\"")]
    [InlineData("\"num_attention_heads\": 4", "not a multiple of num_key_value_heads 3", "\"num_attention_heads\": 4, \"num_key_value_heads\": 3")]
    [InlineData("\"vocab_size\": 32", "field 'vocab_size' must be an integer", "\"vocab_size\": \"many\"")]
    [InlineData("\"vocab_size\": 32", "rope_scaling type 'yarn' is not supported", "\"vocab_size\": 32, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}")]
    [InlineData("\"vocab_size\": 32", "missing 'low_freq_factor'", "\"vocab_size\": 32, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}")]
    [InlineData("\"vocab_size\": 32", "hidden_act 'gelu' is not supported", "\"vocab_size\": 32, \"hidden_act\": \"gelu\"")]
    public void BadConfig(string find, string expected, string replace = "")
    {
        string json = GoodConfig.Replace(find, replace);
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.Parse(json, "config.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("config.json:", e.Message);
    }

    [Fact]
    public void ConfigNotJson() => Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => ModelConfig.Parse("{model_type: llama")).Message);

    [Fact]
    public void MissingConfigFile() => Assert.Contains("config.json not found", Assert.Throws<FileNotFoundException>(() => ModelConfig.Load(_dir)).Message);

    [Fact]
    public void Llama3RopeScalingMatchesReferenceFormula()
    {
        var c = ModelConfig.Parse(GoodConfig.Replace("\"vocab_size\": 32",
            "\"vocab_size\": 32, \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}"));
        double[] inv = c.RopeInverseFrequencies();
        // High frequencies (short wavelengths) are untouched; the lowest ones are divided by the factor.
        Assert.Equal(1.0, inv[0], 12);
        double unscaledLast = 1.0 / Math.Pow(500000.0, 2.0 * 7 / 16);
        Assert.Equal(unscaledLast / 32.0, inv[7], 12);
    }
}
