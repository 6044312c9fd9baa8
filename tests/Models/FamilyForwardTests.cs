using SpecCore.Kernels.Cpu;
using SpecCore.Models;

namespace SpecCore.Tests.Models;

/// <summary>Tiny random models of every family with every option switched on, against the scalar float64
/// reference: logits within 1e-4 at every position of a prompt longer than the windows, on the SIMD and
/// portable kernels. Covers what the shared probes do not (Llama attention_bias/mlp_bias, Qwen3 with
/// attention biases, Qwen2 windows on the upper layers only).</summary>
public class FamilyForwardTests
{
    private const string Base = "\"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 40, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5";

    public static TheoryData<string, string> Configs => new()
    {
        { "llama biases", "{\"model_type\": \"llama\", " + Base + ", \"attention_bias\": true, \"mlp_bias\": true}" },
        { "mistral window 3", "{\"model_type\": \"mistral\", " + Base + ", \"sliding_window\": 3}" },
        { "qwen2 window 4 from layer 1", "{\"model_type\": \"qwen2\", " + Base + ", \"use_sliding_window\": true, \"sliding_window\": 4, \"max_window_layers\": 1}" },
        { "qwen3 head_dim 16 with biases", "{\"model_type\": \"qwen3\", " + Base + ", \"head_dim\": 16, \"attention_bias\": true, \"tie_word_embeddings\": true}" },
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitsMatchScalarReference(string what, string json)
    {
        var config = ModelConfig.Parse(json);
        using var weights = new SyntheticWeights(config, seed: 8);
        int[] prompt = Enumerable.Range(0, 11).Select(i => (i * 7 + 3) % config.VocabSize).ToArray();
        double[][] expected = ScalarReferenceForward.Logits(config, weights, prompt);
        foreach (bool scalar in new[] { false, true })
        {
            using var backend = new CpuBackend(2, forceScalar: scalar);
            using var model = TransformerModel.Create(config, weights, backend);
            using var state = model.CreateState();
            float[] logits = model.Forward(state, prompt).ToArray();
            double maxDiff = 0;
            for (int t = 0; t < prompt.Length; t++)
                for (int v = 0; v < config.VocabSize; v++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(logits[t * config.VocabSize + v] - expected[t][v]));
            Assert.True(maxDiff <= 1e-4, $"{what} (scalar kernels: {scalar}): logits differ from the reference by {maxDiff}");
        }
    }

    [Fact]
    public void QwenWindowsFollowMaxWindowLayersAndLayerTypes()
    {
        var c = ModelConfig.Parse("{\"model_type\": \"qwen2\", " + Base + ", \"use_sliding_window\": true, \"sliding_window\": 4, \"max_window_layers\": 2}");
        Assert.Equal(new[] { 0, 0, 4 }, Enumerable.Range(0, 3).Select(c.WindowOf));
        var off = ModelConfig.Parse("{\"model_type\": \"qwen2\", " + Base + ", \"use_sliding_window\": false, \"sliding_window\": 4, \"max_window_layers\": 0}");
        Assert.Equal(new[] { 0, 0, 0 }, Enumerable.Range(0, 3).Select(off.WindowOf));
        var types = ModelConfig.Parse("{\"model_type\": \"qwen3\", " + Base + ", \"use_sliding_window\": true, \"sliding_window\": 5, \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\"]}");
        Assert.Equal(new[] { 5, 0, 5 }, Enumerable.Range(0, 3).Select(types.WindowOf));
        var mistral = ModelConfig.Parse("{\"model_type\": \"mistral\", " + Base + ", \"sliding_window\": null}");
        Assert.Null(mistral.SlidingWindow);
    }

    [Theory]
    [InlineData("{\"model_type\": \"gemma\", " + Base + "}", "model family 'gemma' is not supported")]
    [InlineData("{\"model_type\": \"llama\", " + Base + ", \"sliding_window\": 4096}", "'sliding_window' is set, but the llama family")]
    [InlineData("{\"model_type\": \"mistral\", " + Base + ", \"attention_bias\": true}", "'attention_bias' is true, but the mistral family")]
    [InlineData("{\"model_type\": \"qwen2\", " + Base + ", \"mlp_bias\": true}", "'mlp_bias' is true")]
    [InlineData("{\"model_type\": \"llama\", " + Base + ", \"quantization_config\": {\"quant_method\": \"gptq\"}}", "'quantization_config' is set")]
    [InlineData("{\"model_type\": \"llama\", " + Base + ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", "rope_scaling type 'yarn' is not supported")]
    [InlineData("{\"model_type\": \"qwen3\", " + Base + ", \"use_sliding_window\": true, \"sliding_window\": 4, \"layer_types\": [\"full_attention\"]}", "'layer_types' has 1 entries, but num_hidden_layers is 3")]
    [InlineData("{\"model_type\": \"qwen3\", " + Base + ", \"layer_types\": [\"full_attention\", \"chunked_attention\", \"full_attention\"]}", "'layer_types' entry 1 is 'chunked_attention'")]
    [InlineData("{\"model_type\": \"mistral\", " + Base + ", \"num_local_experts\": 8}", "mixture-of-experts")]
    [InlineData("{\"model_type\": \"llama\", " + Base + ", \"partial_rotary_factor\": 0.5}", "partial_rotary_factor")]
    [InlineData("{\"model_type\": \"llama\", " + Base + ", \"attention_bias\": \"yes\"}", "field 'attention_bias' must be true or false")]
    [InlineData("{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2147483647, \"num_attention_heads\": 4, \"vocab_size\": 40, \"max_position_embeddings\": 64}", "field 'num_hidden_layers' is 2147483647, above the limit")]
    public void UnimplementedFeaturesAreRefusedByKey(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.Parse(json, "config.json"));
        Assert.StartsWith("config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
