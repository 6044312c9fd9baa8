namespace SpecCore.Models.Families;

/// <summary>
/// One model family (config.json "model_type"): the family-specific config keys it reads and the graph
/// options they switch on in <see cref="ModelConfig"/> (projection biases, q/k norms, sliding windows),
/// which in turn decide its tensor names (<see cref="WeightMap"/>). <see cref="TransformerModel"/> is one
/// forward pass whose optional steps these options turn on; adding a family is adding one file here.
/// </summary>
/// <param name="ModelType">The config.json "model_type" value.</param>
/// <param name="Summary">What sets the family apart, for help text.</param>
/// <param name="ReadFeatures">Reads the family's own keys into a config already holding the common ones,
/// and refuses keys the family cannot honour.</param>
public sealed record ModelFamily(string ModelType, string Summary, Func<ConfigReader, ModelConfig, ModelConfig> ReadFeatures);

/// <summary>The families this runtime implements.</summary>
public static class ModelFamilies
{
    /// <summary>Every supported family.</summary>
    public static IReadOnlyList<ModelFamily> All { get; } = new[] { LlamaFamily.Family, MistralFamily.Family, Qwen2Family.Family, Qwen3Family.Family };

    /// <summary>The family of a model_type, or null when it is not implemented.</summary>
    public static ModelFamily? Find(string modelType)
    {
        foreach (var f in All)
            if (f.ModelType == modelType) return f;
        return null;
    }

    /// <summary>Refuses <paramref name="key"/> when it is set to anything but false/null: the family has no such
    /// feature, and running with it ignored would give wrong output.</summary>
    internal static void RefuseFlag(ConfigReader r, string key, string family)
    {
        if (r.Bool(key)) throw r.Error($"'{key}' is true, but the {family} family has no such feature in this runtime");
    }

    /// <summary>Refuses a sliding window on a family that always attends to the whole context.</summary>
    internal static void RefuseWindow(ConfigReader r, string family)
    {
        if (r.Has("sliding_window") || r.Bool("use_sliding_window"))
            throw r.Error($"'sliding_window' is set, but the {family} family has no sliding-window attention (use model_type 'mistral' or 'qwen2')");
    }

    /// <summary>Qwen2/Qwen3 sliding windows as Hugging Face reads them: a window only with use_sliding_window,
    /// on the layers marked "sliding_attention" in layer_types, or else on layers ≥ max_window_layers.</summary>
    internal static ModelConfig ReadQwenWindows(ConfigReader r, ModelConfig c)
    {
        int? window = r.Bool("use_sliding_window") ? r.OptionalInt("sliding_window") : null;
        string[]? types = r.StringList("layer_types");
        bool[] sliding = new bool[c.Layers];
        if (types != null)
        {
            if (types.Length != c.Layers) throw r.Error($"'layer_types' has {types.Length} entries, but num_hidden_layers is {c.Layers}");
            for (int l = 0; l < types.Length; l++)
            {
                sliding[l] = types[l] switch
                {
                    "sliding_attention" => true,
                    "full_attention" => false,
                    _ => throw r.Error($"'layer_types' entry {l} is '{ConfigReader.Shorten(types[l])}' (expected full_attention or sliding_attention)"),
                };
            }
        }
        else
        {
            int first = r.OptionalCount("max_window_layers") ?? c.Layers;
            for (int l = first; l < c.Layers; l++) sliding[l] = true;
        }
        if (window == null) return c with { SlidingWindow = null, SlidingLayers = null };
        return c with { SlidingWindow = window, SlidingLayers = sliding };
    }
}
