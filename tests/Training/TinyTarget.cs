using System.Text.Json;
using SpecCore.Models;
using SpecCore.Models.Families;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>A tiny random-weight Llama target on disk (4 layers, hidden 32, vocab 512) with the stories260K tokenizer.</summary>
internal static class TinyTarget
{
    public static string Create(string directory, int seed = 11)
    {
        Directory.CreateDirectory(directory);
        var config = new Dictionary<string, object>
        {
            ["architectures"] = new[] { "LlamaForCausalLM" }, ["model_type"] = "llama", ["hidden_size"] = 32, ["intermediate_size"] = 64,
            ["num_hidden_layers"] = 4, ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["vocab_size"] = 512,
            ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 10000.0, ["tie_word_embeddings"] = true,
            ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["torch_dtype"] = "float32",
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config));
        string source = TestModels.Path("stories260K");
        foreach (string f in new[] { "tokenizer.model", "tokenizer_config.json", "generation_config.json" })
            File.Copy(Path.Combine(source, f), Path.Combine(directory, f), overwrite: true);

        ModelConfig c = ModelConfig.Load(directory);
        var rng = new Random(seed);
        var w = new SpecCore.Models.Safetensors.SafetensorsWriter();
        void Add(WeightSpec spec, double scale)
        {
            int n = spec.Kind == WeightKind.Matrix ? spec.Rows * spec.Cols : spec.Rows;
            var values = new float[n];
            for (int i = 0; i < n; i++) values[i] = spec.Kind == WeightKind.Matrix ? (float)((rng.NextDouble() * 2 - 1) * scale) : 1f;
            w.Add(spec.Name, values, spec.Shape);
        }
        Add(WeightMap.Embedding(c), 1.0);
        for (int l = 0; l < c.Layers; l++)
            foreach (WeightSpec spec in WeightMap.Layer(c, l).All()) Add(spec, 0.3);
        Add(WeightMap.FinalNorm(c), 1.0);
        w.Write(Path.Combine(directory, "model.safetensors"));
        return directory;
    }

    public static string TempDirectory(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "speccore-training-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
