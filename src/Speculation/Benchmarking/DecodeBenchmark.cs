using System.Diagnostics;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;

namespace SpecCore.Speculation.Benchmarking;

/// <summary>Timing of one phase of the forward pass.</summary>
/// <param name="Phase">"prefill", "decode" or "verify-k".</param>
/// <param name="Tokens">Tokens processed per pass.</param>
/// <param name="SecondsPerPass">Best seconds per pass (forward plus sampling).</param>
/// <param name="TokensPerSecond">Tokens per second.</param>
/// <param name="WeightGBps">Weight bytes streamed per second (one read of every weight per pass).</param>
/// <param name="GFlops">Arithmetic rate: 2 FLOPs per weight per token.</param>
public sealed record PhaseTiming(string Phase, int Tokens, double SecondsPerPass, double TokensPerSecond, double WeightGBps, double GFlops);

/// <summary>
/// Times a model the way <c>speccore bench</c> defines it: prefill of an 8-token prompt, then 128 decoded
/// tokens (forward pass plus greedy sampling on the backend, which reads back a token id rather than the
/// logits; no detokenising or printing), and verification passes of k tokens (k + 1 with the pending token
/// are what a speculative round runs; here k tokens exactly).
/// </summary>
public static class DecodeBenchmark
{
    /// <summary>Seconds of untimed passes before each measurement: the tiered JIT starts hot methods
    /// unoptimised and promotes them after about 30 calls plus a background delay, so a cold 128-token
    /// run of a tiny model measures the JIT, not the kernels (llama-bench warms up the same way).</summary>
    public static double WarmUpSeconds { get; set; } = 1.0;

    /// <summary>Most repeats of a short phase (see <see cref="ShortPhaseSeconds"/>).</summary>
    private const int MaxShortRepeats = 50;

    /// <summary>Timed seconds a phase keeps repeating for past its asked-for repeats (up to 50 of them): a tiny model's
    /// pass takes well under a millisecond, and on a shared machine its speed swings by 2x over seconds, so a best-of-3
    /// measured within a few milliseconds says more about the neighbours than the code.</summary>
    private const double ShortPhaseSeconds = 0.25;

    /// <summary>Runs the prefill and decode phases, best of <paramref name="repeats"/>, or of up to 50 repeats while
    /// they last under a quarter of a second (a short prefill: of up to 50 more).</summary>
    public static (PhaseTiming Prefill, PhaseTiming Decode) PrefillAndDecode(TransformerModel model, int promptTokens = 8, int decodeTokens = 128, int repeats = 3)
    {
        int vocab = model.Config.VocabSize;
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < promptTokens; i++) prompt[i] = (1 + i * 37) % vocab;
        decodeTokens = Math.Min(decodeTokens, model.Config.MaxPositions - promptTokens - 1);
        using var state = model.CreateState(Math.Min(model.Config.MaxPositions, promptTokens + decodeTokens + 1));
        double bestPrefill = double.MaxValue, bestDecode = double.MaxValue;
        int[] one = new int[1];
        int[] next = new int[1];
        // The first repeat runs untimed until the tiered JIT has promoted the hot path (see WarmUpSeconds).
        long warmUntil = Stopwatch.GetTimestamp() + (long)(WarmUpSeconds * Stopwatch.Frequency);
        long timedUntil = long.MaxValue;
        for (int r = -1; r < repeats || (r < MaxShortRepeats && Stopwatch.GetTimestamp() < timedUntil); r++)
        {
            double prefill = Prefill(model, state, prompt, one);
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < decodeTokens; i++)
            {
                // Greedy on the backend: the step copies back a token id, not the logits.
                model.ForwardSample(state, one, default, SamplingOptions.Greedy, default, next);
                one[0] = next[0];
            }
            double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            if (r < 0)
            {
                if (Stopwatch.GetTimestamp() < warmUntil) r--;
                else timedUntil = Stopwatch.GetTimestamp() + (long)(ShortPhaseSeconds * Stopwatch.Frequency);
                continue;
            }
            bestPrefill = Math.Min(bestPrefill, prefill);
            bestDecode = Math.Min(bestDecode, decode);
        }
        // A short prefill (a tiny model's 8 tokens take under a millisecond) is one scheduler hiccup away from a
        // wrong best-of-3, so more prefill-only repeats follow, for at most a quarter of a second.
        long prefillUntil = Stopwatch.GetTimestamp() + (long)(ShortPhaseSeconds * Stopwatch.Frequency);
        for (int r = 0; r < MaxShortRepeats && Stopwatch.GetTimestamp() < prefillUntil; r++)
            bestPrefill = Math.Min(bestPrefill, Prefill(model, state, prompt, one));
        return (Timing(model, "prefill", promptTokens, bestPrefill, 1),
                Timing(model, "decode", 1, bestDecode / decodeTokens, 1));
    }

    /// <summary>Seconds to prefill <paramref name="prompt"/> into an emptied cache; the greedy next token goes to <paramref name="next"/>[0].</summary>
    private static double Prefill(TransformerModel model, InferenceState state, int[] prompt, int[] next)
    {
        state.Cache.Truncate(0);
        long t0 = Stopwatch.GetTimestamp();
        ReadOnlySpan<float> logits = default;
        for (int i = 0; i < prompt.Length; i += state.MaxBatch)
            logits = model.Forward(state, prompt.AsSpan(i, Math.Min(state.MaxBatch, prompt.Length - i)), default, LogitsRows.Last);
        next[0] = Sampler.ArgMax(logits);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    /// <summary>Times one verification pass of <paramref name="k"/> tokens after a 32-token prefix, best of <paramref name="repeats"/>
    /// or of as many as a quarter of a second holds (at most 50 × <paramref name="repeats"/>).</summary>
    public static PhaseTiming Verify(TransformerModel model, int k, int repeats = 20)
    {
        int vocab = model.Config.VocabSize;
        int prefix = Math.Min(32, model.Config.MaxPositions - k - 1);
        int[] prompt = new int[prefix];
        for (int i = 0; i < prefix; i++) prompt[i] = (3 + i * 11) % vocab;
        int[] batch = new int[k];
        for (int i = 0; i < k; i++) batch[i] = (5 + i * 13) % vocab;
        using var state = model.CreateState(prefix + k + 1, maxBatch: Math.Max(k, Math.Min(prefix, 64)));
        model.Forward(state, prompt, default, LogitsRows.Last);
        Span<int> argmax = stackalloc int[k];
        double best = double.MaxValue;
        long warmUntil = Stopwatch.GetTimestamp() + (long)(WarmUpSeconds * Stopwatch.Frequency);
        do
        {
            VerifyPass(model, state, batch, argmax);
            state.Cache.Truncate(prefix);
        }
        while (Stopwatch.GetTimestamp() < warmUntil);
        long timedUntil = Stopwatch.GetTimestamp() + (long)(ShortPhaseSeconds * Stopwatch.Frequency);
        for (int r = 0; r < repeats || (r < MaxShortRepeats * repeats && Stopwatch.GetTimestamp() < timedUntil); r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            VerifyPass(model, state, batch, argmax);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            state.Cache.Truncate(prefix);
        }
        return Timing(model, $"verify-{k}", k, best, 1);
    }

    private static void VerifyPass(TransformerModel model, InferenceState state, int[] batch, Span<int> argmax)
    {
        int vocab = model.Config.VocabSize;
        ReadOnlySpan<float> logits = model.Forward(state, batch, default, LogitsRows.All);
        for (int i = 0; i < batch.Length; i++) argmax[i] = Sampler.ArgMax(logits.Slice(i * vocab, vocab));
    }

    private static PhaseTiming Timing(TransformerModel model, string phase, int tokens, double seconds, int passes)
    {
        double bytes = model.StreamedWeightBytes;
        double parameters = model.StreamedWeightElements;
        return new PhaseTiming(phase, tokens, seconds, tokens * passes / seconds, bytes * passes / seconds / 1e9, 2 * parameters * tokens * passes / seconds / 1e9);
    }
}
