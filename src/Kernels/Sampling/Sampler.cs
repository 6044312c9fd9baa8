using System.Numerics.Tensors;

namespace SpecCore.Kernels.Sampling;

/// <summary>Turns logits into a token under <see cref="SamplingOptions"/>. It can also expose the exact
/// filtered distribution it samples from, which speculative verification needs for both the target (p)
/// and the draft (q). Scratch is sized once for the vocabulary: sampling allocates nothing.
/// <para>The rule, which <see cref="IBackend.SampleTokens"/> reproduces on a device: candidates are ordered
/// by probability descending, then token id ascending (a total order, so ties are deterministic); top-k keeps
/// the first k, top-p the shortest prefix whose cumulative probability reaches p; the kept tokens are
/// renormalised and one is drawn by inverse CDF over token ids in ascending order with a uniform in [0, 1).</para></summary>
public sealed class Sampler
{
    private readonly float[] _probabilities; // [vocab]
    private readonly ulong[] _order;         // [vocab] sort keys: (~probability bits) << 32 | token id
    private readonly float[] _kept;          // [vocab] renormalised probabilities of the kept candidates

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public Sampler(int vocabSize, SamplingOptions options)
    {
        options.Validate();
        Options = options;
        VocabSize = vocabSize;
        _probabilities = new float[vocabSize];
        _order = new ulong[vocabSize];
        _kept = new float[vocabSize];
        Random = new RandomStream(options.Seed);
    }

    /// <summary>The settings.</summary>
    public SamplingOptions Options { get; }

    /// <summary>Tokens in the vocabulary.</summary>
    public int VocabSize { get; }

    /// <summary>The random stream (shared by sampling and speculative acceptance tests, so one seed fixes a run).</summary>
    public RandomStream Random { get; }

    /// <summary>Chooses the next token from <paramref name="logits"/> ([vocab]): the same as
    /// <see cref="DrawUniforms"/> for one row followed by <see cref="Sample(ReadOnlySpan{float}, float)"/>.</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (Options.IsGreedy) return CheckedArgMax(logits);
        return Sample(logits, Random.NextFloat());
    }

    /// <summary>Chooses the next token from <paramref name="logits"/> ([vocab]) with a given uniform in [0, 1)
    /// (ignored when greedy); consumes nothing from <see cref="Random"/>.</summary>
    public int Sample(ReadOnlySpan<float> logits, float uniform)
    {
        if (Options.IsGreedy) return CheckedArgMax(logits);
        Distribution(logits, _probabilities);
        return SampleFrom(_probabilities, uniform);
    }

    /// <summary>Fills <paramref name="uniforms"/> with the uniforms <see cref="Sample(ReadOnlySpan{float})"/> would
    /// draw for that many rows, in order (zeros and no draws when greedy), for sampling on a backend with
    /// <see cref="IBackend.SampleTokens"/>: host and device then consume the random stream identically.</summary>
    public void DrawUniforms(Span<float> uniforms)
    {
        if (Options.IsGreedy)
        {
            uniforms.Clear();
            return;
        }
        for (int i = 0; i < uniforms.Length; i++) uniforms[i] = Random.NextFloat();
    }

    /// <summary>Index of the largest logit (the lowest index on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    /// <summary><see cref="ArgMax"/> that refuses logits holding a NaN or +infinity (the maximum scan finds
    /// either, so the check costs one comparison).</summary>
    /// <exception cref="NonFiniteLogitsException">The row is not finite.</exception>
    public static int CheckedArgMax(ReadOnlySpan<float> logits)
    {
        int best = TensorPrimitives.IndexOfMax(logits);
        if (!float.IsFinite(logits[best])) throw new NonFiniteLogitsException();
        return best;
    }

    /// <summary><see cref="Distribution"/> for a drafter: returns false (and fills the row with NaN, which the
    /// verifier refuses as a draft distribution) instead of throwing when the logits are not finite.</summary>
    public bool TryDistribution(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        try
        {
            Distribution(logits, probabilities);
            return true;
        }
        catch (NonFiniteLogitsException)
        {
            probabilities.Slice(0, VocabSize).Fill(float.NaN);
            return false;
        }
    }

    /// <summary>Writes the distribution sampling draws from: softmax(logits / T) restricted to top-k and
    /// top-p and renormalised; for greedy options, a one-hot on the argmax.</summary>
    /// <exception cref="NonFiniteLogitsException">The logits hold a NaN or +infinity (found by the maximum scan).</exception>
    public void Distribution(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        int n = VocabSize;
        if (logits.Length < n || probabilities.Length < n) throw new ArgumentException("logits and probabilities must cover the vocabulary");
        probabilities = probabilities.Slice(0, n);
        if (Options.IsGreedy)
        {
            probabilities.Clear();
            probabilities[CheckedArgMax(logits.Slice(0, n))] = 1f;
            return;
        }

        // Stable softmax of logits / T. The maximum is NaN or +infinity when any logit is: refuse those here.
        float max = TensorPrimitives.Max(logits.Slice(0, n));
        if (!float.IsFinite(max)) throw new NonFiniteLogitsException();
        float invT = 1f / Options.Temperature;
        TensorPrimitives.Subtract(logits.Slice(0, n), max, probabilities);
        TensorPrimitives.Multiply(probabilities, invT, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        TensorPrimitives.Multiply(probabilities, 1f / TensorPrimitives.Sum(probabilities), probabilities);

        int k = Options.TopK > 0 ? Math.Min(Options.TopK, n) : n;
        if (k == n && Options.TopP >= 1f) return;

        // Candidates sorted by probability descending, then id ascending: probabilities are non-negative, so
        // their bit patterns order like the values and one ulong key per candidate sorts both ways at once.
        // With top-p alone, tokens below (1 - p) / (n - 1) can never be in the nucleus (llama2.c's cut-off),
        // so only the rest are sorted. That holds only when some token reaches the cut-off (then at most
        // n - 1 tokens below it weigh less than 1 - p); when none does (p < 1/n), all are candidates.
        float cutoff = k == n ? (1f - Options.TopP) / (n - 1) : 0f;
        int count = Candidates(probabilities, cutoff);
        if (count == 0) count = Candidates(probabilities, 0f);
        Span<ulong> order = _order.AsSpan(0, count);
        order.Sort();

        int keep = Math.Min(k, count);
        if (Options.TopP < 1f)
        {
            float cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probabilities[(int)(uint)order[i]];
                if (cumulative >= Options.TopP) { keep = i + 1; break; }
            }
        }

        float total = 0;
        for (int i = 0; i < keep; i++) total += probabilities[(int)(uint)order[i]];
        for (int i = 0; i < keep; i++) _kept[i] = probabilities[(int)(uint)order[i]] / total;
        // Zero everything, then restore the kept ones renormalised.
        probabilities.Clear();
        for (int i = 0; i < keep; i++) probabilities[(int)(uint)order[i]] = _kept[i];
    }

    /// <summary>Writes the sort keys of the tokens with probability ≥ <paramref name="cutoff"/>; returns their count.</summary>
    private int Candidates(ReadOnlySpan<float> probabilities, float cutoff)
    {
        int count = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            float p = probabilities[i];
            if (p >= cutoff) _order[count++] = (ulong)(0x7F800000u - BitConverter.SingleToUInt32Bits(p)) << 32 | (uint)i;
        }
        return count;
    }

    /// <summary>Draws a token from a normalised distribution (inverse CDF) with the next uniform of <see cref="Random"/>.</summary>
    public int SampleFrom(ReadOnlySpan<float> probabilities) => SampleFrom(probabilities, Random.NextFloat());

    /// <summary>Draws a token from a normalised distribution by inverse CDF: the first token id whose
    /// cumulative probability exceeds <paramref name="uniform"/> (in [0, 1)); zero-probability tokens are
    /// skipped, and the last positive one is taken when rounding leaves the total below the uniform.</summary>
    public static int SampleFrom(ReadOnlySpan<float> probabilities, float uniform)
    {
        float cumulative = 0;
        int last = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            float p = probabilities[i];
            if (p <= 0) continue;
            cumulative += p;
            last = i;
            if (uniform < cumulative) return i;
        }
        return last; // rounding: the uniform landed above the final cumulative sum
    }
}

/// <summary>The model's logits hold a NaN or an infinity: its weights or activations overflowed, so there is no
/// distribution to sample from and generation stops instead of emitting garbage.</summary>
public sealed class NonFiniteLogitsException : InvalidOperationException
{
    /// <summary>Creates the exception with its standard message.</summary>
    public NonFiniteLogitsException()
        : base("the model's logits are not finite (NaN or infinity): its weights or activations overflow; generation stopped")
    {
    }
}
