using System.Text.Json;

namespace SpecCore.Models;

/// <summary>Rotary-embedding frequency scaling (config.json "rope_scaling").</summary>
/// <param name="Type">"linear" or "llama3".</param>
/// <param name="Factor">Scale factor.</param>
/// <param name="LowFreqFactor">llama3: low_freq_factor.</param>
/// <param name="HighFreqFactor">llama3: high_freq_factor.</param>
/// <param name="OriginalMaxPositions">llama3: original_max_position_embeddings.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions);

/// <summary>The hyper-parameters of a decoder-only transformer, read from a Hugging Face config.json
/// (and generation_config.json for special token ids).</summary>
public sealed record ModelConfig
{
    /// <summary>config.json "model_type" (e.g. "llama").</summary>
    public required string ModelType { get; init; }
    /// <summary>Width of the residual stream.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Hidden width of the MLP.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Transformer blocks.</summary>
    public required int Layers { get; init; }
    /// <summary>Query heads.</summary>
    public required int Heads { get; init; }
    /// <summary>Key/value heads (grouped-query attention; equal to <see cref="Heads"/> for plain MHA).</summary>
    public required int KvHeads { get; init; }
    /// <summary>Width of one head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>Vocabulary size (rows of the embedding table).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Longest sequence the model supports.</summary>
    public required int MaxPositions { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public float RmsNormEps { get; init; } = 1e-6f;
    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>Optional RoPE scaling.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>True if the LM head shares the embedding matrix.</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Beginning-of-sequence token id.</summary>
    public int? BosId { get; init; }
    /// <summary>End-of-sequence token ids (generation stops on any).</summary>
    public IReadOnlyList<int> EosIds { get; init; } = Array.Empty<int>();

    /// <summary>Query width: heads × head_dim.</summary>
    public int QueryDim => Heads * HeadDim;
    /// <summary>Key/value width: kvHeads × head_dim.</summary>
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Model families whose config and weights this runtime understands.</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = new[] { "llama", "mistral" };

    /// <summary>Reads config.json (and generation_config.json when present) from a model folder.</summary>
    public static ModelConfig Load(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found (is '{directory}' a Hugging Face model folder?)", path);
        ModelConfig config = Parse(File.ReadAllText(path), path);

        string genPath = Path.Combine(directory, "generation_config.json");
        if (File.Exists(genPath))
        {
            try
            {
                using var gen = JsonDocument.Parse(File.ReadAllText(genPath));
                var root = gen.RootElement;
                int? bos = root.TryGetProperty("bos_token_id", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetInt32() : config.BosId;
                IReadOnlyList<int> eos = root.TryGetProperty("eos_token_id", out var e) ? ReadIds(e, genPath, "eos_token_id") : config.EosIds;
                config = config with { BosId = bos, EosIds = eos.Count > 0 ? eos : config.EosIds };
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"{genPath}: not valid JSON ({ex.Message})");
            }
        }
        return config;
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names it in errors.</summary>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})");
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: top level is not a JSON object");

            string modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String
                ? mt.GetString()!
                : throw new InvalidDataException($"{source}: missing required field 'model_type'");
            if (!SupportedModelTypes.Contains(modelType))
                throw new InvalidDataException($"{source}: model family '{modelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
            if (root.TryGetProperty("hidden_act", out var act) && act.GetString() is string a && a != "silu")
                throw new InvalidDataException($"{source}: hidden_act '{a}' is not supported (only silu)");

            int hidden = RequiredInt(root, "hidden_size", source);
            int heads = RequiredInt(root, "num_attention_heads", source);
            int kvHeads = OptionalInt(root, "num_key_value_heads", source) ?? heads;
            int headDim = OptionalInt(root, "head_dim", source) ?? (hidden % heads == 0 ? hidden / heads
                : throw new InvalidDataException($"{source}: hidden_size {hidden} is not divisible by num_attention_heads {heads} and no head_dim is given"));
            if (heads % kvHeads != 0)
                throw new InvalidDataException($"{source}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
            if (headDim % 2 != 0) throw new InvalidDataException($"{source}: head_dim {headDim} must be even for rotary embeddings");

            var config = new ModelConfig
            {
                ModelType = modelType,
                HiddenSize = hidden,
                IntermediateSize = RequiredInt(root, "intermediate_size", source),
                Layers = RequiredInt(root, "num_hidden_layers", source),
                Heads = heads,
                KvHeads = kvHeads,
                HeadDim = headDim,
                VocabSize = RequiredInt(root, "vocab_size", source),
                MaxPositions = RequiredInt(root, "max_position_embeddings", source),
                RmsNormEps = root.TryGetProperty("rms_norm_eps", out var eps) ? (float)ReadDouble(eps, source, "rms_norm_eps") : 1e-6f,
                RopeTheta = root.TryGetProperty("rope_theta", out var theta) ? ReadDouble(theta, source, "rope_theta") : 10000.0,
                RopeScaling = root.TryGetProperty("rope_scaling", out var rs) ? ParseRopeScaling(rs, source) : null,
                TieWordEmbeddings = root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True,
                BosId = root.TryGetProperty("bos_token_id", out var bos) && bos.ValueKind == JsonValueKind.Number ? bos.GetInt32() : null,
                EosIds = root.TryGetProperty("eos_token_id", out var eos) ? ReadIds(eos, source, "eos_token_id") : Array.Empty<int>(),
            };
            if (config.RopeTheta <= 0) throw new InvalidDataException($"{source}: rope_theta must be positive");
            if (config.RmsNormEps <= 0) throw new InvalidDataException($"{source}: rms_norm_eps must be positive");
            return config;
        }
    }

    private static RopeScaling? ParseRopeScaling(JsonElement e, string source)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: rope_scaling must be an object or null");
        string? type = e.TryGetProperty("rope_type", out var rt) ? rt.GetString() : e.TryGetProperty("type", out var t) ? t.GetString() : null;
        double factor = e.TryGetProperty("factor", out var f) ? ReadDouble(f, source, "rope_scaling.factor") : 1.0;
        switch (type)
        {
            case null or "default":
                return null;
            case "linear":
                if (factor <= 0) throw new InvalidDataException($"{source}: rope_scaling.factor must be positive");
                return new RopeScaling("linear", factor, 0, 0, 0);
            case "llama3":
                double low = e.TryGetProperty("low_freq_factor", out var l) ? ReadDouble(l, source, "rope_scaling.low_freq_factor") : throw new InvalidDataException($"{source}: rope_scaling (llama3) is missing 'low_freq_factor'");
                double high = e.TryGetProperty("high_freq_factor", out var h) ? ReadDouble(h, source, "rope_scaling.high_freq_factor") : throw new InvalidDataException($"{source}: rope_scaling (llama3) is missing 'high_freq_factor'");
                int orig = e.TryGetProperty("original_max_position_embeddings", out var o) && o.TryGetInt32(out int ov) ? ov : throw new InvalidDataException($"{source}: rope_scaling (llama3) is missing 'original_max_position_embeddings'");
                if (high <= low) throw new InvalidDataException($"{source}: rope_scaling high_freq_factor must exceed low_freq_factor");
                return new RopeScaling("llama3", factor, low, high, orig);
            default:
                throw new InvalidDataException($"{source}: rope_scaling type '{type}' is not supported (supported: linear, llama3)");
        }
    }

    /// <summary>The rotary inverse frequencies for each pair j of a head: theta^(-2j/headDim), scaled as configured.</summary>
    public double[] RopeInverseFrequencies()
    {
        int half = HeadDim / 2;
        var inv = new double[half];
        for (int j = 0; j < half; j++) inv[j] = 1.0 / Math.Pow(RopeTheta, 2.0 * j / HeadDim);
        if (RopeScaling is { } s)
        {
            if (s.Type == "linear")
            {
                for (int j = 0; j < half; j++) inv[j] /= s.Factor;
            }
            else if (s.Type == "llama3")
            {
                // As in Meta's reference and HF's _compute_llama3_parameters.
                double lowWavelen = s.OriginalMaxPositions / s.LowFreqFactor;
                double highWavelen = s.OriginalMaxPositions / s.HighFreqFactor;
                for (int j = 0; j < half; j++)
                {
                    double wavelen = 2 * Math.PI / inv[j];
                    if (wavelen < highWavelen) continue;
                    if (wavelen > lowWavelen)
                    {
                        inv[j] /= s.Factor;
                    }
                    else
                    {
                        double smooth = (s.OriginalMaxPositions / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                        inv[j] = (1 - smooth) * inv[j] / s.Factor + smooth * inv[j];
                    }
                }
            }
        }
        return inv;
    }

    private static int RequiredInt(JsonElement root, string name, string source) =>
        OptionalInt(root, name, source) ?? throw new InvalidDataException($"{source}: missing required field '{name}'");

    private static int? OptionalInt(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
            throw new InvalidDataException($"{source}: field '{name}' must be an integer, got {e.GetRawText()}");
        if (v <= 0) throw new InvalidDataException($"{source}: field '{name}' must be positive, got {v}");
        return v;
    }

    private static double ReadDouble(JsonElement e, string source, string name) =>
        e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw new InvalidDataException($"{source}: field '{name}' must be a number, got {e.GetRawText()}");

    private static IReadOnlyList<int> ReadIds(JsonElement e, string source, string name)
    {
        if (e.ValueKind == JsonValueKind.Null) return Array.Empty<int>();
        if (e.ValueKind == JsonValueKind.Number) return new[] { e.GetInt32() };
        if (e.ValueKind == JsonValueKind.Array) return e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        throw new InvalidDataException($"{source}: field '{name}' must be an integer or a list of integers");
    }
}
