using System.Text.Json;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Speculation.Heads;
using SpecCore.Tensors;

namespace SpecCore.Tests.Speculation;

/// <summary>The weights of a random EAGLE-3 head as written to disk (F32 values, row-major), for the reference.</summary>
internal sealed class Eagle3Weights
{
    public required int Hidden, Heads, KvHeads, HeadDim, Ffn, DraftVocab;
    public required int[] Aux;
    public required bool FcNorm, NormOutput;
    public int? Rank;
    public required Dictionary<string, float[]> Tensors; // EAGLE layout names
    public required long[] D2t;
    public float[] T(string name) => Tensors[name];
}

/// <summary>Writes random-weight draft heads for a target config in the public layouts.</summary>
internal static class TestHeads
{
    /// <summary>A temporary folder holding config.json and model.safetensors of a random EAGLE-3 head for
    /// <paramref name="target"/>. <paramref name="layerPrefix"/>: "midlayer." (EAGLE) or "layers.0." (speculators).
    /// The draft vocabulary is every other target id from 0, then the rest, cut to <paramref name="draftVocab"/>.</summary>
    public static (string Folder, Eagle3Weights Weights) WriteEagle3(ModelConfig target, string layerPrefix = "midlayer.", int seed = 1,
        int? draftVocab = null, bool fcNorm = true, bool normOutput = true, int? rank = null, int heads = 4, int kvHeads = 2, int ffn = 48,
        Action<Dictionary<string, float[]>, Dictionary<string, int[]>>? tamper = null, Action<long[]>? tamperD2t = null)
    {
        int h = target.HiddenSize, hd = h / heads, vd = draftVocab ?? target.VocabSize, v = target.VocabSize;
        var rng = new Random(seed);
        var tensors = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();
        void Mat(string name, int rows, int cols, float scale = 1f)
        {
            float s = scale * 1.7f / MathF.Sqrt(cols);
            var a = new float[rows * cols];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * s;
            tensors[name] = a;
            shapes[name] = new[] { rows, cols };
        }
        void Norm(string name)
        {
            var a = new float[h];
            for (int i = 0; i < h; i++) a[i] = 1f + (float)(rng.NextDouble() * 2 - 1) * 0.2f;
            tensors[name] = a;
            shapes[name] = new[] { h };
        }
        Mat("fc.weight", h, 3 * h);
        if (fcNorm) for (int j = 0; j < 3; j++) Norm($"fc_norm.{j}.weight");
        Norm("midlayer.input_layernorm.weight");
        Norm("midlayer.hidden_norm.weight");
        Mat("midlayer.self_attn.q_proj.weight", heads * hd, 2 * h);
        Mat("midlayer.self_attn.k_proj.weight", kvHeads * hd, 2 * h);
        Mat("midlayer.self_attn.v_proj.weight", kvHeads * hd, 2 * h);
        Mat("midlayer.self_attn.o_proj.weight", h, heads * hd);
        Norm("midlayer.post_attention_layernorm.weight");
        Mat("midlayer.mlp.gate_proj.weight", ffn, h);
        Mat("midlayer.mlp.up_proj.weight", ffn, h);
        Mat("midlayer.mlp.down_proj.weight", h, ffn);
        Norm("norm.weight");
        if (rank is int r)
        {
            Mat("lm_head.u.weight", r, h, 3f);
            Mat("lm_head.v.weight", vd, r, 3f);
        }
        else Mat("lm_head.weight", vd, h, 3f);

        // Draft id d -> target id: the even ids first, then the odd ones.
        var ids = Enumerable.Range(0, v).Where(i => i % 2 == 0).Concat(Enumerable.Range(0, v).Where(i => i % 2 == 1)).Take(vd).OrderBy(i => i).ToArray();
        var d2t = new long[vd];
        var t2d = new bool[v];
        for (int d = 0; d < vd; d++)
        {
            d2t[d] = ids[d] - d;
            t2d[ids[d]] = true;
        }
        tamper?.Invoke(tensors, shapes);
        tamperD2t?.Invoke(d2t);

        string folder = Path.Combine(Path.GetTempPath(), $"speccore-eagle3-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        foreach (var (name, values) in tensors)
            writer.Add(name.StartsWith("midlayer.", StringComparison.Ordinal) ? layerPrefix + name["midlayer.".Length..] : name, values, shapes[name]);
        writer.Add("d2t", d2t, new[] { vd });
        writer.Add("t2d", t2d, new[] { v });
        writer.Write(Path.Combine(folder, "model.safetensors"));

        int[] aux = EagleFeatureLayers.For(target.Layers);
        var config = new Dictionary<string, object>
        {
            ["architectures"] = new[] { "LlamaForCausalLMEagle3" },
            ["hidden_size"] = h, ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["head_dim"] = hd,
            ["intermediate_size"] = ffn, ["rms_norm_eps"] = target.RmsNormEps, ["vocab_size"] = v, ["draft_vocab_size"] = vd,
            ["eagle_aux_hidden_state_layer_ids"] = aux, ["fc_norm"] = fcNorm, ["norm_output"] = normOutput,
        };
        if (rank is int rr) config["draft_lm_head_rank"] = rr;
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(config));
        return (folder, new Eagle3Weights
        {
            Hidden = h, Heads = heads, KvHeads = kvHeads, HeadDim = hd, Ffn = ffn, DraftVocab = vd, Aux = aux,
            FcNorm = fcNorm, NormOutput = normOutput, Rank = rank, Tensors = tensors, D2t = d2t,
        });
    }
}

/// <summary>Random Medusa heads written in the public layout.</summary>
internal static class TestMedusa
{
    /// <summary>A temporary folder with medusa_lm_head.safetensors and config.json; returns the F32 values written.</summary>
    public static (string Folder, Dictionary<string, float[]> Tensors) Write(ModelConfig target, int heads, int seed = 1, int layers = 1,
        Action<Dictionary<string, float[]>, Dictionary<string, int[]>>? tamper = null)
    {
        int h = target.HiddenSize, v = target.VocabSize;
        var rng = new Random(seed);
        var tensors = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();
        float[] Random(int n, float scale)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
            return a;
        }
        for (int i = 0; i < heads; i++)
        {
            for (int j = 0; j < layers; j++)
            {
                tensors[$"{i}.{j}.linear.weight"] = Random(h * h, 1.7f / MathF.Sqrt(h));
                shapes[$"{i}.{j}.linear.weight"] = new[] { h, h };
                tensors[$"{i}.{j}.linear.bias"] = Random(h, 0.3f);
                shapes[$"{i}.{j}.linear.bias"] = new[] { h };
            }
            tensors[$"{i}.{layers}.weight"] = Random(v * h, 5f / MathF.Sqrt(h));
            shapes[$"{i}.{layers}.weight"] = new[] { v, h };
        }
        tamper?.Invoke(tensors, shapes);
        string folder = Path.Combine(Path.GetTempPath(), $"speccore-medusa-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        foreach (var (name, values) in tensors) writer.Add(name, values, shapes[name]);
        writer.Write(Path.Combine(folder, "medusa_lm_head.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"),
            JsonSerializer.Serialize(new Dictionary<string, object> { ["medusa_num_heads"] = heads, ["medusa_num_layers"] = layers, ["hidden_size"] = h }));
        return (folder, tensors);
    }
}
