using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>Compares a backend's <see cref="IBackend.SampleTokens"/> with the host <see cref="Sampler"/>.
/// The contract is exact agreement up to float rounding at a boundary: a mismatch is accepted only when the
/// uniform lies within 1e-5 of a CDF point of the host distribution, or the top-k / top-p cut itself sits
/// within rounding (two candidates at the k-th place within 1e-5 relative, or a cumulative sum within 1e-5
/// of p); the caller asserts such mismatches are rare.</summary>
internal static class SamplingTestUtil
{
    public const double Boundary = 1e-5;

    public static readonly SamplingOptions[] Options =
    {
        new(1f),
        new(0.7f),
        new(1f, TopK: 5),
        new(1.3f, TopK: 1),
        new(1f, TopP: 0.9f),
        new(0.5f, TopP: 0.37f),
        new(0.8f, TopK: 20, TopP: 0.7f),
        new(1.5f, TopK: 3, TopP: 0.95f),
        new(1f, TopK: 100000),
    };

    public static readonly int[] Vocabs = { 1, 2, 3, 7, 16, 33, 100, 257, 1000, 4099 };

    /// <summary>Samples rows × rounds on <paramref name="backend"/> and on the host; returns (draws, mismatches)
    /// and fails on a mismatch not explained by a boundary.</summary>
    public static (int Draws, int Mismatches) Compare(IBackend backend, int vocab, SamplingOptions options, Random rng,
        int rows, int rounds, Func<Random, int, float[]> logits)
    {
        var sampler = new Sampler(vocab, options);
        using var tensor = backend.Allocate(DType.F32, rows, vocab);
        var uniforms = new float[rows];
        var actual = new int[rows];
        int draws = 0, mismatches = 0;
        for (int round = 0; round < rounds; round++)
        {
            float[] values = logits(rng, rows * vocab);
            backend.Write(tensor, values);
            for (int r = 0; r < rows; r++) uniforms[r] = round == 0 && r < 2 ? (r == 0 ? 0f : 0.99999994f) : rng.NextSingle();
            backend.SampleTokens(tensor, rows, options, uniforms, actual);
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> row = values.AsSpan(r * vocab, vocab);
                int expected = sampler.Sample(row, uniforms[r]);
                draws++;
                if (expected == actual[r]) continue;
                mismatches++;
                Assert.True(NearBoundary(sampler, row, uniforms[r]),
                    $"vocab {vocab}, {options}: row {r} uniform {uniforms[r]}: host {expected}, backend {actual[r]}");
            }
        }
        return (draws, mismatches);
    }

    /// <summary>Whether the choice for <paramref name="uniform"/> is decided by float rounding.</summary>
    public static bool NearBoundary(Sampler sampler, ReadOnlySpan<float> logits, float uniform)
    {
        int n = sampler.VocabSize;
        var q = new float[n];
        sampler.Distribution(logits, q);
        double cdf = 0;
        for (int i = 0; i < n; i++)
        {
            if (q[i] <= 0) continue;
            cdf += q[i];
            if (Math.Abs(cdf - uniform) < Boundary) return true;
        }
        if (sampler.Options.IsGreedy) return false;

        // The cut: full softmax in double, candidates sorted by logit descending. Exactly tied logits give
        // exactly tied probabilities on both sides, so only distinct logits whose probabilities are within
        // rounding may swap places at the k-th position.
        double max = double.NegativeInfinity;
        for (int i = 0; i < n; i++) max = Math.Max(max, logits[i]);
        var l = logits.Slice(0, n).ToArray();
        Array.Sort(l, (a, b) => b.CompareTo(a));
        var p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] = Math.Exp((l[i] - max) / sampler.Options.Temperature);
        for (int i = 0; i < n; i++) p[i] /= sum;
        int k = sampler.Options.TopK > 0 ? Math.Min(sampler.Options.TopK, n) : n;
        if (k < n && l[k - 1] != l[k] && Math.Abs(p[k - 1] - p[k]) <= Boundary * p[k - 1]) return true;
        double cumulative = 0;
        for (int i = 0; i < k; i++)
        {
            cumulative += p[i];
            if (Math.Abs(cumulative - sampler.Options.TopP) < Boundary) return true;
        }
        return false;
    }

    /// <summary>Random logits in [-scale, scale].</summary>
    public static float[] RandomLogits(Random rng, int count, float scale)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return v;
    }

    /// <summary>Logits from a handful of values, so that most tokens tie with others (cuts fall inside tie groups).</summary>
    public static float[] TiedLogits(Random rng, int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = rng.Next(4) * 0.75f;
        return v;
    }
}
