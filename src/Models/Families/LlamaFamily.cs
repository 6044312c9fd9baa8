namespace SpecCore.Models.Families;

/// <summary>Llama (Llama 2/3, TinyLlama, SmolLM2): q/k/v/o biases when attention_bias, gate/up/down biases
/// when mlp_bias; linear and llama3 rope_scaling (read with the common keys); no sliding window.</summary>
public static class LlamaFamily
{
    /// <summary>The family.</summary>
    public static ModelFamily Family { get; } = new("llama", "RMSNorm, rotary GQA attention, SwiGLU MLP; optional attention/MLP biases", Read);

    private static ModelConfig Read(ConfigReader r, ModelConfig c)
    {
        ModelFamilies.RefuseWindow(r, "llama");
        bool attentionBias = r.Bool("attention_bias");
        return c with { QkvBias = attentionBias, OutputBias = attentionBias, MlpBias = r.Bool("mlp_bias") };
    }
}
