using SpecCore.Tensors;

namespace SpecCore.Engine;

/// <summary>What an <see cref="InferenceEngine"/> loads: the target, its drafter and how much context sessions get.</summary>
public sealed record EngineOptions
{
    /// <summary>The target: a name from models.json, a Hugging Face model folder, or a repo id in the Hugging Face cache.</summary>
    public required string Model { get; init; }

    /// <summary>A draft model sharing the target's tokenizer (speculative decoding), or null.</summary>
    public string? Draft { get; init; }

    /// <summary>A drafter without a model: <c>lookup</c> (prompt lookup), or null.</summary>
    public string? Drafter { get; init; }

    /// <summary>A draft head for the target (an EAGLE-3 or Medusa folder or safetensors file; the kind is read from its
    /// config), or null.</summary>
    public string? Heads { get; init; }

    /// <summary>Convert the weight matrices at load time (null: keep the stored dtype).</summary>
    public DType? WeightType { get; init; }

    /// <summary>KV cache element type, F16 or F32 (null: F16 for models over 256 MB of weights on a backend that has it).</summary>
    public DType? KvType { get; init; }

    /// <summary>Tokens each session holds, prompt plus output (null: the model's context, at most
    /// <see cref="SpecCore.Models.TransformerModel.DefaultContext"/>).</summary>
    public int? ContextSize { get; init; }

    /// <summary>Draft length per round: a number (1-64) or <c>auto</c>.</summary>
    public string DraftLength { get; init; } = "4";

    /// <summary>A token-tree setting (<c>static:4x2x2x1</c>, <c>sequoia:N</c>, <c>dynamic:N</c>) instead of chains, or null.</summary>
    public string? Tree { get; init; }

    /// <summary>The acceptance profile for <c>sequoia</c> trees (null: the one shipped for the pair).</summary>
    public string? TreeProfile { get; init; }
}
