namespace SpecCore.Training;

/// <summary>The shape and options of an EAGLE-3 head (what its config.json records).</summary>
public sealed record Eagle3HeadShape
{
    /// <summary>Hidden size H of the target and the head.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Query heads.</summary>
    public required int Heads { get; init; }
    /// <summary>Key/value heads.</summary>
    public required int KvHeads { get; init; }
    /// <summary>Width of one attention head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>MLP width.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Draft vocabulary size Vd.</summary>
    public required int DraftVocabSize { get; init; }
    /// <summary>Target vocabulary size V.</summary>
    public required int TargetVocabSize { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public float RmsNormEps { get; init; } = 1e-5f;
    /// <summary>The target layers whose inputs are the three features.</summary>
    public required int[] AuxLayers { get; init; }
    /// <summary>EAGLE 3.1: an RMSNorm on each feature before fc.</summary>
    public bool FcNorm { get; init; } = true;
    /// <summary>EAGLE 3.1: the next depth reads the post-norm output (false: the pre-norm h2, as the original EAGLE-3).</summary>
    public bool NormOutput { get; init; } = true;

    /// <summary>Query width heads · headDim.</summary>
    public int QueryDim => Heads * HeadDim;
    /// <summary>Key/value width kvHeads · headDim.</summary>
    public int KvDim => KvHeads * HeadDim;
}
