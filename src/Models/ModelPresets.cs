namespace SpecCore.Models;

/// <summary>Configurations of well-known Llama-family models, for synthetic benchmarks and tests.</summary>
public static class ModelPresets
{
    /// <summary>Preset names accepted by <see cref="Get"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { "tiny", "stories15M", "stories42M", "stories110M", "TinyLlama-1.1B", "Llama-3.2-1B" };

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
