namespace SpecCore.Models.Families;

/// <summary>Qwen3: a per-head RMSNorm of q and k over head_dim (q_norm, k_norm) after the projections and
/// before RoPE; q/k/v/o biases when attention_bias; explicit head_dim (heads × head_dim may differ from the
/// hidden size); sliding windows as Qwen2.</summary>
public static class Qwen3Family
{
    /// <summary>The family.</summary>
    public static ModelFamily Family { get; } = new("qwen3", "per-head q/k RMSNorm before RoPE; optional attention biases and sliding window", Read);

    private static ModelConfig Read(ConfigReader r, ModelConfig c)
    {
        ModelFamilies.RefuseFlag(r, "mlp_bias", "qwen3");
        bool attentionBias = r.Bool("attention_bias");
        return ModelFamilies.ReadQwenWindows(r, c with { QkNorm = true, QkvBias = attentionBias, OutputBias = attentionBias });
    }
}
