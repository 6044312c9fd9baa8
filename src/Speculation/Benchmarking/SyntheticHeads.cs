using System.Globalization;
using System.Text.Json;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Speculation.Heads;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>Seeded random-weight draft heads of the right shape for a target, written to a folder in the public layouts
/// (EAGLE-3: config.json + model.safetensors; Medusa: config.json + medusa_lm_head.safetensors), for benchmarks that
/// time a real head without a trained one.</summary>
public static class SyntheticHeads
{
    /// <summary>An EAGLE-3 head for <paramref name="target"/> in <paramref name="folder"/>: the target's head count and MLP
    /// width, a draft vocabulary of the first <paramref name="draftVocab"/> target ids, EAGLE 3.1 normalisation, and a
    /// rank-<paramref name="rank"/> LM head when given.</summary>
    public static void WriteEagle3(ModelConfig target, string folder, int draftVocab, int? rank = null, DType stored = DType.BF16, int seed = 7)
    {
        int h = target.HiddenSize, q = target.Heads * target.HeadDim, kv = target.KvHeads * target.HeadDim, ffn = target.IntermediateSize;
        if (draftVocab < 1 || draftVocab > target.VocabSize) throw new ArgumentOutOfRangeException(nameof(draftVocab));
        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        void Mat(string name, int rows, int cols, float gain = 1.7f)
        {
            var a = new float[(long)rows * cols];
            float s = gain / MathF.Sqrt(cols);
            for (long i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * s;
            w.Add(name, a, new[] { rows, cols }, stored);
        }
        void Norm(string name) => w.Add(name, Enumerable.Repeat(1f, h).ToArray(), new[] { h }, DType.F32);
        Mat("fc.weight", h, 3 * h);
        for (int j = 0; j < 3; j++) Norm($"fc_norm.{j}.weight");
        Norm("midlayer.input_layernorm.weight");
        Norm("midlayer.hidden_norm.weight");
        Mat("midlayer.self_attn.q_proj.weight", q, 2 * h);
        Mat("midlayer.self_attn.k_proj.weight", kv, 2 * h);
        Mat("midlayer.self_attn.v_proj.weight", kv, 2 * h);
        Mat("midlayer.self_attn.o_proj.weight", h, q);
        Norm("midlayer.post_attention_layernorm.weight");
        Mat("midlayer.mlp.gate_proj.weight", ffn, h);
        Mat("midlayer.mlp.up_proj.weight", ffn, h);
        Mat("midlayer.mlp.down_proj.weight", h, ffn);
        Norm("norm.weight");
        if (rank is int r)
        {
            Mat("lm_head.u.weight", r, h);
            Mat("lm_head.v.weight", draftVocab, r);
        }
        else Mat("lm_head.weight", draftVocab, h);
        w.Add("d2t", new long[draftVocab], new[] { draftVocab });
        var t2d = new bool[target.VocabSize];
        for (int i = 0; i < draftVocab; i++) t2d[i] = true;
        w.Add("t2d", t2d, new[] { target.VocabSize });
        Directory.CreateDirectory(folder);
        w.Write(Path.Combine(folder, "model.safetensors"));
        using var stream = File.Create(Path.Combine(folder, "config.json"));
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartArray("architectures");
        json.WriteStringValue("LlamaForCausalLMEagle3");
        json.WriteEndArray();
        json.WriteNumber("hidden_size", h);
        json.WriteNumber("num_attention_heads", target.Heads);
        json.WriteNumber("num_key_value_heads", target.KvHeads);
        json.WriteNumber("head_dim", target.HeadDim);
        json.WriteNumber("intermediate_size", ffn);
        json.WriteNumber("rms_norm_eps", target.RmsNormEps);
        json.WriteNumber("vocab_size", target.VocabSize);
        json.WriteNumber("draft_vocab_size", draftVocab);
        json.WriteStartArray("eagle_aux_hidden_state_layer_ids");
        foreach (int l in EagleFeatureLayers.For(target.Layers)) json.WriteNumberValue(l);
        json.WriteEndArray();
        json.WriteBoolean("fc_norm", true);
        json.WriteBoolean("norm_output", true);
        if (rank is int rr) json.WriteNumber("draft_lm_head_rank", rr);
        json.WriteEndObject();
    }

    /// <summary><paramref name="heads"/> Medusa heads (one ResBlock each, LM heads over the whole vocabulary) for <paramref name="target"/>.</summary>
    public static void WriteMedusa(ModelConfig target, string folder, int heads, DType stored = DType.BF16, int seed = 7)
    {
        int h = target.HiddenSize, v = target.VocabSize;
        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        float[] Random(long n, float scale)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            return a;
        }
        for (int i = 0; i < heads; i++)
        {
            w.Add($"{i}.0.linear.weight", Random((long)h * h, 1.7f / MathF.Sqrt(h)), new[] { h, h }, stored);
            w.Add($"{i}.0.linear.bias", new float[h], new[] { h }, DType.F32);
            w.Add($"{i}.1.weight", Random((long)v * h, 1.7f / MathF.Sqrt(h)), new[] { v, h }, stored);
        }
        Directory.CreateDirectory(folder);
        w.Write(Path.Combine(folder, "medusa_lm_head.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), string.Format(CultureInfo.InvariantCulture,
            "{{\"medusa_num_heads\": {0}, \"medusa_num_layers\": 1, \"hidden_size\": {1}}}", heads, h));
    }
}
