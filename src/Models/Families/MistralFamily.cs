namespace SpecCore.Models.Families;

/// <summary>Mistral: Llama's graph with a sliding window on every layer (position i attends to positions j
/// with i − j &lt; sliding_window; null means none); no projection biases.</summary>
public static class MistralFamily
{
    /// <summary>The family.</summary>
    public static ModelFamily Family { get; } = new("mistral", "Llama graph with sliding-window attention on every layer", Read);

    private static ModelConfig Read(ConfigReader r, ModelConfig c)
    {
        ModelFamilies.RefuseFlag(r, "attention_bias", "mistral");
        ModelFamilies.RefuseFlag(r, "mlp_bias", "mistral");
        int? window = r.OptionalInt("sliding_window");
        return c with { SlidingWindow = window, SlidingLayers = null };
    }
}
