using System.Text.Json;
using SpecCore.Models.Families;

namespace SpecCore.Speculation.Heads;

/// <summary>The hyper-parameters of an EAGLE-3 head, read from the config.json beside its weights
/// (LlamaForCausalLMEagle3 style; a speculators config's <c>transformer_layer_config</c> and an
/// <c>eagle_config</c> object are read too).</summary>
public sealed record Eagle3Config
{
    /// <summary>Hidden size H (must equal the target's).</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Query heads.</summary>
    public required int Heads { get; init; }
    /// <summary>Key/value heads.</summary>
    public required int KvHeads { get; init; }
    /// <summary>Width of one head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>Width of the SwiGLU MLP.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public required float RmsNormEps { get; init; }
    /// <summary>Size of the reduced draft vocabulary (rows of lm_head), null: take it from the file.</summary>
    public int? DraftVocabSize { get; init; }
    /// <summary>Target layers whose inputs are the three features, in concatenation order; null: <see cref="EagleFeatureLayers.For"/>.</summary>
    public int[]? AuxLayers { get; init; }
    /// <summary>EAGLE 3.1: an RMSNorm on each feature before fc (null: whether the file has fc_norm weights).</summary>
    public bool? FcNorm { get; init; }
    /// <summary>EAGLE 3.1: the next depth takes the post-norm output instead of the pre-norm layer output (the original EAGLE-3).</summary>
    public bool NormOutput { get; init; }
    /// <summary>Rank r of a low-rank draft LM head (lm_head.u [r, H], lm_head.v [Vd, r]), null: a full lm_head.</summary>
    public int? LmHeadRank { get; init; }

    /// <summary>Reads <paramref name="path"/>; errors name the file and the key.</summary>
    public static Eagle3Config Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidDataException($"{path}: the EAGLE-3 head's config.json is missing");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message.Split('.')[0]})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: the config is not a JSON object");
            var top = new ConfigReader(doc.RootElement, path);
            // speculators keep the decoder layer's keys in a nested object; EAGLE's own files keep them at the top.
            ConfigReader layer = top.TryGet("transformer_layer_config", out JsonElement nested) && nested.ValueKind == JsonValueKind.Object
                ? new ConfigReader(nested, path) : top;
            ConfigReader eagle = top.TryGet("eagle_config", out JsonElement e) && e.ValueKind == JsonValueKind.Object ? new ConfigReader(e, path) : top;
            int hidden = layer.RequiredInt("hidden_size");
            int heads = layer.RequiredInt("num_attention_heads");
            int kvHeads = layer.OptionalInt("num_key_value_heads") ?? heads;
            if (heads % kvHeads != 0) throw top.Error($"field 'num_attention_heads' ({heads}) must be a multiple of 'num_key_value_heads' ({kvHeads})");
            int headDim = layer.OptionalInt("head_dim") ?? hidden / heads;
            if (headDim % 2 != 0) throw top.Error($"field 'head_dim' must be even for rotary embeddings, got {headDim}");
            int[]? aux = ReadAuxLayers(top, "eagle_aux_hidden_state_layer_ids") ?? ReadAuxLayers(eagle, "eagle_aux_hidden_state_layer_ids");
            return new Eagle3Config
            {
                HiddenSize = hidden,
                Heads = heads,
                KvHeads = kvHeads,
                HeadDim = headDim,
                IntermediateSize = layer.RequiredInt("intermediate_size"),
                RmsNormEps = (float)layer.Double("rms_norm_eps", 1e-6),
                DraftVocabSize = top.OptionalInt("draft_vocab_size"),
                AuxLayers = aux,
                FcNorm = top.Has("fc_norm") ? top.Bool("fc_norm") : null,
                NormOutput = top.Bool("norm_output"),
                LmHeadRank = top.OptionalInt("draft_lm_head_rank"),
            };
        }
    }

    private static int[]? ReadAuxLayers(ConfigReader r, string key)
    {
        if (!r.TryGet(key, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 3) throw r.Error($"field '{key}' must be a list of three layer indices");
        var ids = new int[3];
        int i = 0;
        foreach (JsonElement item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]) || ids[i] < 0)
                throw r.Error($"field '{key}' must hold non-negative integers, got {item.GetRawText()}");
            i++;
        }
        return ids;
    }
}
