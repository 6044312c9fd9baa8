using System.Diagnostics;
using System.Numerics.Tensors;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Bench.Cpu;

/// <summary>Speed of one model on the CPU backend, per phase.</summary>
public sealed record DecodeReport(
    string Model, string DType, int Threads, long StreamedBytes,
    int PromptTokens, double PrefillTokensPerSecond,
    int DecodeTokens, double DecodeTokensPerSecond,
    IReadOnlyList<(int K, double Milliseconds)> Verify)
{
    /// <summary>GB/s of weights streamed while decoding.</summary>
    public double DecodeGBps => StreamedBytes * DecodeTokensPerSecond / 1e9;

    /// <summary>Milliseconds of one decode step.</summary>
    public double DecodeStepMs => 1000 / DecodeTokensPerSecond;
}

/// <summary>The end-to-end timing harness for the CPU kernels: prefill, greedy decode and verify-k
/// forwards (as the bench command defines them), plus greedy agreement of two weight types.</summary>
public static class DecodeHarness
{
    /// <summary>Builds a synthetic preset (or loads a checkpoint folder when <paramref name="modelOrPreset"/> is a
    /// directory) and times an <paramref name="promptTokens"/>-token prefill, then <paramref name="decodeTokens"/>
    /// greedy decode steps (Forward with LogitsRows.Last + argmax), then verify-k forwards; best of
    /// <paramref name="repeats"/> runs for each phase.</summary>
    public static DecodeReport RunDecodeBenchmark(string modelOrPreset, DType? dtype, int threads,
        int promptTokens = 8, int decodeTokens = 128, int[]? verifyK = null, int repeats = 3)
    {
        verifyK ??= new[] { 1, 2, 4, 8, 16 };
        bool isDir = Directory.Exists(modelOrPreset);
        ModelConfig config = isDir ? ModelConfig.Load(modelOrPreset) : ModelPresets.Get(modelOrPreset);
        using IWeightSource weights = isDir ? CheckpointWeights.Open(modelOrPreset) : new SyntheticWeights(config, seed: 1);
        using var backend = new CpuBackend(threads);
        using var model = TransformerModel.Create(config, weights, backend, dtype);
        int vocab = config.VocabSize;
        var prompt = new int[promptTokens];
        for (int i = 0; i < promptTokens; i++) prompt[i] = (1 + i * 37) % vocab;
        using var state = model.CreateState(Math.Min(config.MaxPositions, promptTokens + decodeTokens + 64));

        double bestPrefill = double.MaxValue, bestDecode = double.MaxValue;
        var token = new int[1];
        for (int rep = 0; rep < repeats; rep++)
        {
            state.Cache.Truncate(0);
            long t0 = Stopwatch.GetTimestamp();
            ReadOnlySpan<float> logits = model.Forward(state, prompt, logitsRows: LogitsRows.Last);
            token[0] = TensorPrimitives.IndexOfMax(logits);
            double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < decodeTokens; i++)
            {
                logits = model.Forward(state, token, logitsRows: LogitsRows.Last);
                token[0] = TensorPrimitives.IndexOfMax(logits);
            }
            double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            bestPrefill = Math.Min(bestPrefill, prefill);
            bestDecode = Math.Min(bestDecode, decode);
        }

        // Verify-k: k chain tokens on top of the prompt, logits for all of them, cache cut back after.
        var verify = new List<(int, double)>();
        state.Cache.Truncate(0);
        model.Forward(state, prompt, logitsRows: LogitsRows.Last);
        int prefix = state.Length;
        foreach (int k in verifyK)
        {
            if (prefix + k > state.Cache.Capacity || k > state.MaxBatch) continue;
            var draft = new int[k];
            for (int i = 0; i < k; i++) draft[i] = (5 + i * 11) % vocab;
            double best = double.MaxValue;
            for (int rep = 0; rep < Math.Max(5, repeats * 3); rep++)
            {
                long t = Stopwatch.GetTimestamp();
                model.Forward(state, draft);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                state.Cache.Truncate(prefix);
            }
            verify.Add((k, best));
        }

        return new DecodeReport(isDir ? Path.GetFileName(modelOrPreset.TrimEnd('/')) : modelOrPreset, model.WeightType.Name(), threads,
            model.StreamedWeightBytes, promptTokens, promptTokens / bestPrefill, decodeTokens, decodeTokens / bestDecode, verify);
    }

    /// <summary>Greedy-decodes <paramref name="tokens"/> tokens after each prompt with weights converted to
    /// <paramref name="dtype"/> and with the stored weights, and returns the fraction of positions where
    /// the two agree and the first position where they differ (-1: none), per prompt.</summary>
    public static IReadOnlyList<(double Agreement, int FirstDifference)> GreedyAgreement(string modelDir, DType dtype,
        IEnumerable<int[]> prompts, int tokens = 128, int threads = 2)
    {
        var config = ModelConfig.Load(modelDir);
        using var weights = CheckpointWeights.Open(modelDir);
        using var backend = new CpuBackend(threads);
        using var reference = TransformerModel.Create(config, weights, backend);
        using var converted = TransformerModel.Create(config, weights, backend, dtype);
        var result = new List<(double, int)>();
        foreach (int[] prompt in prompts)
        {
            int[] a = Greedy(reference, prompt, tokens), b = Greedy(converted, prompt, tokens);
            int same = 0, first = -1;
            for (int i = 0; i < tokens; i++)
            {
                if (a[i] == b[i]) same++;
                else if (first < 0) first = i;
            }
            result.Add(((double)same / tokens, first));
        }
        return result;
    }

    private static int[] Greedy(TransformerModel model, int[] prompt, int tokens)
    {
        using var state = model.CreateState();
        var output = new int[tokens];
        ReadOnlySpan<float> logits = model.Forward(state, prompt, logitsRows: LogitsRows.Last);
        var token = new int[1];
        for (int i = 0; i < tokens; i++)
        {
            output[i] = token[0] = TensorPrimitives.IndexOfMax(logits);
            if (i + 1 < tokens) logits = model.Forward(state, token, logitsRows: LogitsRows.Last);
        }
        return output;
    }
}
