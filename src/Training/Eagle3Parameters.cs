using System.Numerics;

namespace SpecCore.Training;

/// <summary>The trainable tensors of an EAGLE-3 head under their public (layout a) names.</summary>
internal static class Eagle3Parameters
{
    public const string Fc = "fc.weight";
    public const string Wq = "midlayer.self_attn.q_proj.weight";
    public const string Wk = "midlayer.self_attn.k_proj.weight";
    public const string Wv = "midlayer.self_attn.v_proj.weight";
    public const string Wo = "midlayer.self_attn.o_proj.weight";
    public const string InputNorm = "midlayer.input_layernorm.weight";
    public const string HiddenNorm = "midlayer.hidden_norm.weight";
    public const string PostNorm = "midlayer.post_attention_layernorm.weight";
    public const string Gate = "midlayer.mlp.gate_proj.weight";
    public const string Up = "midlayer.mlp.up_proj.weight";
    public const string Down = "midlayer.mlp.down_proj.weight";
    public const string Norm = "norm.weight";
    public const string LmHead = "lm_head.weight";

    /// <summary>Name of feature norm <paramref name="i"/> (0..2).</summary>
    public static string FcNorm(int i) => $"fc_norm.{i}.weight";

    /// <summary>The head's parameters for <paramref name="shape"/>, zero (see <see cref="Initialize{T}"/>).</summary>
    public static ParameterSet<T> Create<T>(Eagle3HeadShape shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = shape.HiddenSize;
        var set = new ParameterSet<T>();
        if (shape.FcNorm) for (int i = 0; i < 3; i++) set.Add(FcNorm(i), h);
        set.Add(Fc, h, 3 * h);
        set.Add(InputNorm, h);
        set.Add(HiddenNorm, h);
        set.Add(Wq, shape.QueryDim, 2 * h);
        set.Add(Wk, shape.KvDim, 2 * h);
        set.Add(Wv, shape.KvDim, 2 * h);
        set.Add(Wo, h, shape.QueryDim);
        set.Add(PostNorm, h);
        set.Add(Gate, shape.IntermediateSize, h);
        set.Add(Up, shape.IntermediateSize, h);
        set.Add(Down, h, shape.IntermediateSize);
        set.Add(Norm, h);
        set.Add(LmHead, shape.DraftVocabSize, h);
        return set;
    }

    /// <summary>Norm scales 1, matrices normal with standard deviation <paramref name="std"/> (seeded); the LM head
    /// starts as the target's LM head rows of the draft vocabulary when <paramref name="targetLmHead"/> ([V, H]) is given.</summary>
    public static void Initialize<T>(ParameterSet<T> set, int seed, float std, float[]? targetLmHead, DraftVocabulary? vocabulary)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        foreach (var p in set.All)
        {
            if (p.Shape.Length == 1) { Array.Fill(p.Value, T.One); continue; }
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = T.CreateChecked(Gaussian(rng) * std);
        }
        if (targetLmHead != null && vocabulary != null)
        {
            var lm = set[LmHead];
            int h = lm.Shape[1];
            for (int d = 0; d < vocabulary.Size; d++)
                for (int i = 0; i < h; i++) lm.Value[d * h + i] = T.CreateChecked(targetLmHead[vocabulary.DraftToTarget[d] * h + i]);
        }
    }

    internal static double Gaussian(Random rng)
    {
        double u = 1.0 - rng.NextDouble(), v = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
