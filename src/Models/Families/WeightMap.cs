namespace SpecCore.Models.Families;

/// <summary>How a tensor is used: decides its dtype on a backend and how synthetic weights fill it.</summary>
public enum WeightKind
{
    /// <summary>A matrix [out, in], kept in (or converted to) the model's weight dtype.</summary>
    Matrix,
    /// <summary>A norm scale [n], F32.</summary>
    Norm,
    /// <summary>A bias [n], F32.</summary>
    Bias,
}

/// <summary>One tensor a checkpoint of a config holds: its Hugging Face name, use and shape
/// (<see cref="Cols"/> is 0 for vectors).</summary>
public readonly record struct WeightSpec(string Name, WeightKind Kind, int Rows, int Cols)
{
    /// <summary>The shape as the weight source checks it.</summary>
    public int[] Shape => Kind == WeightKind.Matrix ? new[] { Rows, Cols } : new[] { Rows };
}

/// <summary>The tensors of one transformer block; a null entry is a tensor this config does not have.</summary>
public sealed record LayerWeightSpecs(
    WeightSpec AttentionNorm, WeightSpec Wq, WeightSpec Wk, WeightSpec Wv, WeightSpec Wo,
    WeightSpec? Bq, WeightSpec? Bk, WeightSpec? Bv, WeightSpec? Bo, WeightSpec? QNorm, WeightSpec? KNorm,
    WeightSpec MlpNorm, WeightSpec WGate, WeightSpec WUp, WeightSpec WDown,
    WeightSpec? BGate, WeightSpec? BUp, WeightSpec? BDown)
{
    /// <summary>Every tensor of the block, in checkpoint order.</summary>
    public IEnumerable<WeightSpec> All()
    {
        yield return AttentionNorm;
        yield return Wq;
        if (Bq is { } bq) yield return bq;
        yield return Wk;
        if (Bk is { } bk) yield return bk;
        yield return Wv;
        if (Bv is { } bv) yield return bv;
        yield return Wo;
        if (Bo is { } bo) yield return bo;
        if (QNorm is { } qn) yield return qn;
        if (KNorm is { } kn) yield return kn;
        yield return MlpNorm;
        yield return WGate;
        if (BGate is { } bg) yield return bg;
        yield return WUp;
        if (BUp is { } bu) yield return bu;
        yield return WDown;
        if (BDown is { } bd) yield return bd;
    }
}

/// <summary>The one list of tensor names and shapes for a config (Hugging Face layout, shared by every
/// family here): the model loader and the synthetic-weight generator both read it.</summary>
public static class WeightMap
{
    /// <summary>Name of the token embedding table.</summary>
    public const string EmbeddingName = "model.embed_tokens.weight";

    /// <summary>model.embed_tokens.weight [vocab, dim].</summary>
    public static WeightSpec Embedding(ModelConfig c) => new(EmbeddingName, WeightKind.Matrix, c.VocabSize, c.HiddenSize);

    /// <summary>model.norm.weight [dim].</summary>
    public static WeightSpec FinalNorm(ModelConfig c) => new("model.norm.weight", WeightKind.Norm, c.HiddenSize, 0);

    /// <summary>lm_head.weight [vocab, dim] (absent when tied to the embedding).</summary>
    public static WeightSpec LmHead(ModelConfig c) => new("lm_head.weight", WeightKind.Matrix, c.VocabSize, c.HiddenSize);

    /// <summary>The tensors of block <paramref name="layer"/>.</summary>
    public static LayerWeightSpecs Layer(ModelConfig c, int layer)
    {
        string p = $"model.layers.{layer}.";
        int dim = c.HiddenSize, ffn = c.IntermediateSize;
        WeightSpec M(string name, int rows, int cols) => new(p + name, WeightKind.Matrix, rows, cols);
        WeightSpec N(string name, int n) => new(p + name, WeightKind.Norm, n, 0);
        WeightSpec? B(bool present, string name, int n) => present ? new WeightSpec(p + name, WeightKind.Bias, n, 0) : null;
        return new LayerWeightSpecs(
            AttentionNorm: N("input_layernorm.weight", dim),
            Wq: M("self_attn.q_proj.weight", c.QueryDim, dim),
            Wk: M("self_attn.k_proj.weight", c.KvDim, dim),
            Wv: M("self_attn.v_proj.weight", c.KvDim, dim),
            Wo: M("self_attn.o_proj.weight", dim, c.QueryDim),
            Bq: B(c.QkvBias, "self_attn.q_proj.bias", c.QueryDim),
            Bk: B(c.QkvBias, "self_attn.k_proj.bias", c.KvDim),
            Bv: B(c.QkvBias, "self_attn.v_proj.bias", c.KvDim),
            Bo: B(c.OutputBias, "self_attn.o_proj.bias", dim),
            QNorm: c.QkNorm ? N("self_attn.q_norm.weight", c.HeadDim) : null,
            KNorm: c.QkNorm ? N("self_attn.k_norm.weight", c.HeadDim) : null,
            MlpNorm: N("post_attention_layernorm.weight", dim),
            WGate: M("mlp.gate_proj.weight", ffn, dim),
            WUp: M("mlp.up_proj.weight", ffn, dim),
            WDown: M("mlp.down_proj.weight", dim, ffn),
            BGate: B(c.MlpBias, "mlp.gate_proj.bias", ffn),
            BUp: B(c.MlpBias, "mlp.up_proj.bias", ffn),
            BDown: B(c.MlpBias, "mlp.down_proj.bias", dim));
    }
}
