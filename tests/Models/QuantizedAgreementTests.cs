using System.Text.Json;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;
using Xunit.Abstractions;

namespace SpecCore.Tests.Models;

/// <summary>How often a model with converted weights picks the F32 model's greedy token: teacher-forced along the
/// F32 reference continuations (the reference ids are fed back, so one early difference does not count for the rest),
/// over all cases of the shared reference files. The floors sit below what each dtype measures, so a broken kernel
/// (a wrong nibble order or a lost scale drops agreement to chance) fails them.</summary>
public class QuantizedAgreementTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, double> Cases() => new()
    {
        { "stories2M", "f16", 0.98 },
        { "stories2M", "q8_0", 0.95 },
        { "stories2M", "q4_0", 0.90 },
        { "stories260K", "q8_0", 0.95 },
        { "stories260K", "q4_0", 0.80 },
        { "stories2M", "f32+kv-f16", 0.98 },
        { "stories260K", "f32+kv-f16", 0.98 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyAgreementWithF32(string model, string dtype, double floor)
    {
        // "f32+kv-f16": F32 weights with an F16 KV cache, held to the floor of F16 weights.
        bool f16Cache = dtype.EndsWith("+kv-f16", StringComparison.Ordinal);
        DType weights = DTypeInfo.Parse(f16Cache ? dtype[..^"+kv-f16".Length] : dtype);
        double agreement = Agreement(model, weights, f16Cache ? DType.F16 : DType.F32, out int positions);
        output.WriteLine($"{model} {dtype}: top-1 agreement with the F32 greedy continuation {agreement:F4} over {positions} positions");
        Assert.True(agreement >= floor, $"{model} {dtype}: agreement {agreement:F4} below {floor}");
    }

    internal static double Agreement(string model, DType weightType, DType kvType, out int positions)
    {
        string dir = TestModels.Path(model);
        var config = ModelConfig.Load(dir);
        using var weights = CheckpointWeights.Open(dir);
        using var backend = new CpuBackend(2);
        using var m = TransformerModel.Create(config, weights, backend, weightType, kvType);
        using var doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.greedy.json")));
        int agree = 0;
        positions = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            int[] prompt = c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] greedy = c.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            // One pass over prompt + continuation: row prompt.Length − 1 + t predicts greedy[t].
            int[] all = [.. prompt, .. greedy[..^1]];
            using var state = m.CreateState(maxBatch: all.Length);
            ReadOnlySpan<float> logits = m.Forward(state, all);
            for (int t = 0; t < greedy.Length; t++)
            {
                int row = prompt.Length - 1 + t;
                int top = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Slice(row * config.VocabSize, config.VocabSize));
                if (top == greedy[t]) agree++;
                positions++;
            }
        }
        return (double)agree / positions;
    }
}
