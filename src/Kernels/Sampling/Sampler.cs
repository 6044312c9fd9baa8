using System.Numerics.Tensors;

namespace SpecCore.Kernels.Sampling;

/// <summary>Turns logits into a token under <see cref="SamplingOptions"/>. It can also expose the exact
/// filtered distribution it samples from, which speculative verification needs for both the target (p)
/// and the draft (q). Scratch is sized once for the vocabulary: sampling allocates nothing.</summary>
public sealed class Sampler
{
    private readonly float[] _probabilities; // [vocab]
    private readonly int[] _candidates;      // [vocab] token ids sorted by probability
    private readonly float[] _sortKeys;      // [vocab] negated probabilities of the candidates

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public Sampler(int vocabSize, SamplingOptions options)
    {
        options.Validate();
        Options = options;
        VocabSize = vocabSize;
        _probabilities = new float[vocabSize];
        _candidates = new int[vocabSize];
        _sortKeys = new float[vocabSize];
        Random = new RandomStream(options.Seed);
    }

    /// <summary>The settings.</summary>
    public SamplingOptions Options { get; }

    /// <summary>Tokens in the vocabulary.</summary>
    public int VocabSize { get; }

    /// <summary>The random stream (shared by sampling and speculative acceptance tests, so one seed fixes a run).</summary>
    public RandomStream Random { get; }

    /// <summary>Chooses the next token from <paramref name="logits"/> ([vocab]).</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (Options.IsGreedy) return ArgMax(logits);
        Distribution(logits, _probabilities);
        return SampleFrom(_probabilities);
    }

    /// <summary>Index of the largest logit (the lowest index on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    /// <summary>Writes the distribution sampling draws from: softmax(logits / T) restricted to top-k and
    /// top-p and renormalised; for greedy options, a one-hot on the argmax.</summary>
    public void Distribution(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        int n = VocabSize;
        if (logits.Length < n || probabilities.Length < n) throw new ArgumentException("logits and probabilities must cover the vocabulary");
        probabilities = probabilities.Slice(0, n);
        if (Options.IsGreedy)
        {
            probabilities.Clear();
            probabilities[ArgMax(logits)] = 1f;
            return;
        }

        // Stable softmax of logits / T.
        float max = TensorPrimitives.Max(logits.Slice(0, n));
        float invT = 1f / Options.Temperature;
        TensorPrimitives.Subtract(logits.Slice(0, n), max, probabilities);
        TensorPrimitives.Multiply(probabilities, invT, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        TensorPrimitives.Multiply(probabilities, 1f / TensorPrimitives.Sum(probabilities), probabilities);

        int k = Options.TopK > 0 ? Math.Min(Options.TopK, n) : n;
        if (k == n && Options.TopP >= 1f) return;

        // Candidates sorted by probability (descending, ties by id). With top-p alone, tokens below
        // (1 - p) / (n - 1) can never be in the nucleus (llama2.c's cut-off), so only the rest are sorted.
        float cutoff = k == n ? (1f - Options.TopP) / (n - 1) : 0f;
        int count = 0;
        for (int i = 0; i < n; i++)
            if (probabilities[i] >= cutoff) _candidates[count++] = i;
        var candidates = _candidates.AsSpan(0, count);
        Span<float> keys = _sortKeys.AsSpan(0, count);
        for (int i = 0; i < count; i++) keys[i] = -probabilities[candidates[i]];
        keys.Sort(candidates);

        int keep = Math.Min(k, count);
        if (Options.TopP < 1f)
        {
            float cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probabilities[candidates[i]];
                if (cumulative >= Options.TopP) { keep = i + 1; break; }
            }
        }

        float total = 0;
        for (int i = 0; i < keep; i++) total += probabilities[candidates[i]];
        // Zero everything, then restore the kept ones renormalised (keys still hold -p).
        probabilities.Clear();
        for (int i = 0; i < keep; i++) probabilities[candidates[i]] = -keys[i] / total;
    }

    /// <summary>Draws a token from a normalised distribution (inverse CDF).</summary>
    public int SampleFrom(ReadOnlySpan<float> probabilities)
    {
        float r = Random.NextFloat();
        float cumulative = 0;
        int last = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            float p = probabilities[i];
            if (p <= 0) continue;
            cumulative += p;
            last = i;
            if (r < cumulative) return i;
        }
        return last; // rounding: r landed above the final cumulative sum
    }
}
