namespace SpecCore.Kernels.Sampling;

/// <summary>How the next token is chosen from logits.</summary>
/// <param name="Temperature">0 (or less) is greedy; otherwise logits are divided by it before the softmax.</param>
/// <param name="TopK">Keep only the K most likely tokens (0: no limit).</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose probability reaches P (1: no limit).</param>
/// <param name="Seed">Seed of the random stream; the same seed gives the same output.</param>
public sealed record SamplingOptions(float Temperature = 0f, int TopK = 0, float TopP = 1f, ulong Seed = 42)
{
    /// <summary>Greedy decoding: always the most likely token.</summary>
    public static SamplingOptions Greedy { get; } = new();

    /// <summary>True when no randomness is involved.</summary>
    public bool IsGreedy => Temperature <= 0f;

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0) throw new ArgumentException($"temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
    }
}
