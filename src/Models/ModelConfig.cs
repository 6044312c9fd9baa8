using System.Text.Json;
using SpecCore.Models.Families;

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
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ModelFamilies.All.Select(f => f.ModelType).ToArray();

    /// <summary>Projections q, k and v carry a bias (Qwen2; Llama/Qwen3 with attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>o_proj carries a bias (Llama/Qwen3 with attention_bias).</summary>
    public bool OutputBias { get; init; }
    /// <summary>gate/up/down projections carry a bias (Llama with mlp_bias).</summary>
    public bool MlpBias { get; init; }
    /// <summary>Per-head RMSNorm of q and k over head_dim before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>Sliding-window width W (position i attends to j with i − j &lt; W), or null for full attention.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Which layers slide when <see cref="SlidingWindow"/> is set; null means every layer.</summary>
    public IReadOnlyList<bool>? SlidingLayers { get; init; }

    /// <summary>The attention window of a layer: 0 for full causal attention.</summary>
    public int WindowOf(int layer) =>
        SlidingWindow is int w && (SlidingLayers == null || SlidingLayers[layer]) ? w : 0;

    // Bounds that keep a lying config from sizing arrays: far above any released model.
    private const int MaxLayers = 1024, MaxHeads = 1024, MaxHeadDim = 1024, MaxHidden = 1 << 17, MaxVocab = 1 << 24, MaxContext = 1 << 24;

    /// <summary>Reads config.json (and generation_config.json when present) from a model folder.</summary>
    public static ModelConfig Load(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!ModelFile.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found (is '{directory}' a Hugging Face model folder?)", path);
        ModelConfig config = Parse(ModelFile.ReadAllText(path, 16 << 20), path);

        string genPath = Path.Combine(directory, "generation_config.json");
        if (ModelFile.Exists(genPath))
        {
            try
            {
                using var gen = JsonDocument.Parse(ModelFile.ReadAllText(genPath, 16 << 20));
                var root = gen.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{genPath}: top level is not a JSON object");
                int? bos = root.TryGetProperty("bos_token_id", out var b) && b.ValueKind == JsonValueKind.Number ? ReadId(b, genPath, "bos_token_id", config.VocabSize) : config.BosId;
                IReadOnlyList<int> eos = root.TryGetProperty("eos_token_id", out var e) ? ReadIds(e, genPath, "eos_token_id", config.VocabSize) : config.EosIds;
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
            var r = new ConfigReader(root, source);

            string modelType = r.String("model_type") ?? throw r.Error("missing required field 'model_type'");
            ModelFamily family = ModelFamilies.Find(modelType)
                ?? throw r.Error($"model family '{ConfigReader.Shorten(modelType)}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
            string? act = r.String("hidden_act") ?? r.String("hidden_activation");
            if (act != null && act != "silu") throw r.Error($"hidden_act '{ConfigReader.Shorten(act)}' is not supported (only silu)");
            RefuseUnimplemented(r);

            int hidden = Bounded(r, "hidden_size", r.RequiredInt("hidden_size"), MaxHidden);
            int heads = Bounded(r, "num_attention_heads", r.RequiredInt("num_attention_heads"), MaxHeads);
            int kvHeads = Bounded(r, "num_key_value_heads", r.OptionalInt("num_key_value_heads") ?? heads, MaxHeads);
            int headDim = r.OptionalInt("head_dim") ?? (hidden % heads == 0 ? hidden / heads
                : throw r.Error($"hidden_size {hidden} is not divisible by num_attention_heads {heads} and no head_dim is given"));
            Bounded(r, "head_dim", headDim, MaxHeadDim);
            if (heads % kvHeads != 0)
                throw r.Error($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
            if (headDim % 2 != 0) throw r.Error($"head_dim {headDim} must be even for rotary embeddings");
            int vocab = Bounded(r, "vocab_size", r.RequiredInt("vocab_size"), MaxVocab);

            var config = new ModelConfig
            {
                ModelType = modelType,
                HiddenSize = hidden,
                IntermediateSize = Bounded(r, "intermediate_size", r.RequiredInt("intermediate_size"), MaxHidden * 8),
                Layers = Bounded(r, "num_hidden_layers", r.RequiredInt("num_hidden_layers"), MaxLayers),
                Heads = heads,
                KvHeads = kvHeads,
                HeadDim = headDim,
                VocabSize = vocab,
                MaxPositions = Bounded(r, "max_position_embeddings", r.RequiredInt("max_position_embeddings"), MaxContext),
                RmsNormEps = (float)r.Double("rms_norm_eps", 1e-6),
                RopeTheta = r.Double("rope_theta", 10000.0),
                RopeScaling = r.TryGet("rope_scaling", out var rs) ? ParseRopeScaling(rs, source) : null,
                TieWordEmbeddings = r.Bool("tie_word_embeddings"),
                BosId = root.TryGetProperty("bos_token_id", out var bos) && bos.ValueKind == JsonValueKind.Number ? ReadId(bos, source, "bos_token_id", vocab) : null,
                EosIds = root.TryGetProperty("eos_token_id", out var eos) ? ReadIds(eos, source, "eos_token_id", vocab) : Array.Empty<int>(),
            };
            if (!(config.RopeTheta > 0)) throw r.Error("rope_theta must be positive");
            if (!(config.RmsNormEps > 0 && config.RmsNormEps <= 1)) throw r.Error($"rms_norm_eps must be in (0, 1], got {config.RmsNormEps}");
            config = family.ReadFeatures(r, config);
            if (config.SlidingWindow is int w && w < 1) throw r.Error("sliding_window must be positive");
            return config;
        }
    }

    /// <summary>Keys of features no family here implements: refused rather than ignored, since ignoring any of
    /// them gives wrong output.</summary>
    private static void RefuseUnimplemented(ConfigReader r)
    {
        if (r.Has("quantization_config")) throw r.Error("'quantization_config' is set: pre-quantized checkpoints (GPTQ, AWQ, bitsandbytes, ...) are not supported; use an unquantized model and --dtype");
        foreach (string key in new[] { "attn_logit_softcapping", "final_logit_softcapping" })
            if (r.Has(key)) throw r.Error($"'{key}' is set: logit soft-capping is not supported");
        if (r.TryGet("partial_rotary_factor", out var prf) && prf.ValueKind != JsonValueKind.Null && r.Number(prf, "partial_rotary_factor") != 1.0)
            throw r.Error("'partial_rotary_factor' other than 1 is not supported");
        foreach (string key in new[] { "num_experts", "num_local_experts", "n_routed_experts" })
            if (r.OptionalCount(key) is > 0) throw r.Error($"'{key}' is set: mixture-of-experts models are not supported");
    }

    private static int Bounded(ConfigReader r, string key, int value, int max) =>
        value <= max ? value : throw r.Error($"field '{key}' is {value}, above the limit of {max} this runtime accepts");

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

    private static double ReadDouble(JsonElement e, string source, string name) =>
        e.ValueKind == JsonValueKind.Number && double.IsFinite(e.GetDouble()) ? e.GetDouble()
            : throw new InvalidDataException($"{source}: field '{name}' must be a finite number, got {ConfigReader.Shorten(e.GetRawText())}");

    private static int ReadId(JsonElement e, string source, string name, int vocab)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int id) || id < 0)
            throw new InvalidDataException($"{source}: field '{name}' must be a non-negative integer token id, got {ConfigReader.Shorten(e.GetRawText())}");
        if (id >= vocab) throw new InvalidDataException($"{source}: field '{name}' is {id}, outside the vocabulary of {vocab}");
        return id;
    }

    private static IReadOnlyList<int> ReadIds(JsonElement e, string source, string name, int vocab)
    {
        if (e.ValueKind == JsonValueKind.Null) return Array.Empty<int>();
        if (e.ValueKind == JsonValueKind.Number) return new[] { ReadId(e, source, name, vocab) };
        if (e.ValueKind == JsonValueKind.Array)
        {
            var ids = new List<int>();
            foreach (var x in e.EnumerateArray())
            {
                if (ids.Count >= 64) throw new InvalidDataException($"{source}: field '{name}' lists more than 64 ids");
                ids.Add(ReadId(x, source, name, vocab));
            }
            return ids;
        }
        throw new InvalidDataException($"{source}: field '{name}' must be an integer or a list of integers");
    }
}
