namespace SpecCore.Models.Families;

/// <summary>Qwen2 / Qwen2.5: q/k/v projections always carry a bias (o_proj does not); a sliding window only
/// when use_sliding_window, on layers ≥ max_window_layers (or as layer_types says).</summary>
public static class Qwen2Family
{
    /// <summary>The family.</summary>
    public static ModelFamily Family { get; } = new("qwen2", "q/k/v projection biases; optional sliding window from max_window_layers on", Read);

    private static ModelConfig Read(ConfigReader r, ModelConfig c)
    {
        ModelFamilies.RefuseFlag(r, "mlp_bias", "qwen2");
        ModelFamilies.RefuseFlag(r, "attention_bias", "qwen2 (its q/k/v biases are built in; o_proj has none)");
        return ModelFamilies.ReadQwenWindows(r, c with { QkvBias = true, OutputBias = false });
    }
}
