namespace SpecCore.Models;

/// <summary>Configurations of well-known models (Llama, Qwen2.5 and Qwen3 shapes), for synthetic benchmarks and tests.</summary>
public static class ModelPresets
{
    /// <summary>Preset names accepted by <see cref="Get"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "tiny", "stories15M", "stories42M", "stories110M", "TinyLlama-1.1B", "Llama-3.2-1B", "Qwen2.5-0.5B", "Qwen3-0.6B" };

    /// <summary>The config of a preset (case-insensitive); a clear error for unknown names.</summary>
    public static ModelConfig Get(string name) => name.ToLowerInvariant() switch
    {
        // A test-sized model with GQA and an untied head.
        "tiny" => Llama(dim: 32, ffn: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 64, context: 128, tied: false),
        "stories15m" => Llama(dim: 288, ffn: 768, layers: 6, heads: 6, kvHeads: 6, vocab: 32000, context: 256, tied: true),
        "stories42m" => Llama(dim: 512, ffn: 1376, layers: 8, heads: 8, kvHeads: 8, vocab: 32000, context: 1024, tied: true),
        // Issue 5's reference shape: 134 M parameters with an untied output matrix.
        "stories110m" => Llama(dim: 768, ffn: 2048, layers: 12, heads: 12, kvHeads: 12, vocab: 32000, context: 1024, tied: false),
        "tinyllama-1.1b" => Llama(dim: 2048, ffn: 5632, layers: 22, heads: 32, kvHeads: 4, vocab: 32000, context: 2048, tied: false),
        "llama-3.2-1b" => Llama(dim: 2048, ffn: 8192, layers: 16, heads: 32, kvHeads: 8, vocab: 128256, context: 4096, tied: true, theta: 500000,
            scaling: new RopeScaling("llama3", 32, 1, 4, 8192)),
        // Qwen2.5-0.5B: q/k/v biases, 14 heads of 64 over a 896-wide stream, 2 KV heads, tied head.
        "qwen2.5-0.5b" => Llama(dim: 896, ffn: 4864, layers: 24, heads: 14, kvHeads: 2, vocab: 151936, context: 32768, tied: true, theta: 1000000) with
        {
            ModelType = "qwen2", QkvBias = true, RmsNormEps = 1e-6f, BosId = 151643, EosIds = new[] { 151645, 151643 },
        },
        // Qwen3-0.6B: per-head q/k norms, head_dim 128 (16 × 128 = 2048 ≠ hidden 1024), tied head.
        "qwen3-0.6b" => Llama(dim: 1024, ffn: 3072, layers: 28, heads: 16, kvHeads: 8, vocab: 151936, context: 40960, tied: true, theta: 1000000) with
        {
            ModelType = "qwen3", HeadDim = 128, QkNorm = true, RmsNormEps = 1e-6f, BosId = 151643, EosIds = new[] { 151645, 151643 },
        },
        _ => throw new ArgumentException($"unknown synthetic preset '{name}' (known: {string.Join(", ", Names)})"),
    };

    private static ModelConfig Llama(int dim, int ffn, int layers, int heads, int kvHeads, int vocab, int context, bool tied,
        double theta = 10000, RopeScaling? scaling = null) => new()
    {
        ModelType = "llama",
        HiddenSize = dim,
        IntermediateSize = ffn,
        Layers = layers,
        Heads = heads,
        KvHeads = kvHeads,
        HeadDim = dim / heads,
        VocabSize = vocab,
        MaxPositions = context,
        RmsNormEps = 1e-5f,
        RopeTheta = theta,
        RopeScaling = scaling,
        TieWordEmbeddings = tied,
        BosId = 1,
        EosIds = new[] { 2 },
    };
}
