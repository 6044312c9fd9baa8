using System.Text.Json;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Safetensors;

namespace SpecCore.Tests.Models;

/// <summary>Real checkpoints against reference outputs of an independent float64 implementation.</summary>
public class ReferenceGreedyTests
{
    public static TheoryData<string> ModelNames => new() { "stories260K", "stories260K-bf16", "stories2M", "tinystories-draft" };

    private sealed record Case(string Prompt, int[] PromptIds, int[] GreedyIds, float[][] PromptLogits);

    private static List<Case> LoadCases(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.greedy.json")));
        var root = doc.RootElement;
        JsonElement cases = root.ValueKind == JsonValueKind.Array ? root : root.GetProperty("cases");
        var list = new List<Case>();
        foreach (var c in cases.EnumerateArray())
        {
            list.Add(new Case(
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("prompt_logits").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray()));
        }
        return list;
    }

    [Theory]
    [MemberData(nameof(ModelNames))]
    public void GreedyIdsAndPromptLogitsMatchReference(string model)
    {
        string dir = TestModels.Path(model);
        var config = ModelConfig.Load(dir);
        using var weights = CheckpointWeights.Open(dir);
        using var backend = new CpuBackend(2);
        using var m = TransformerModel.Create(config, weights, backend);
        foreach (var c in LoadCases(model))
        {
            using var state = m.CreateState();
            ReadOnlySpan<float> logits = m.Forward(state, c.PromptIds);
            double maxDiff = 0;
            for (int i = 0; i < c.PromptIds.Length; i++)
                for (int v = 0; v < config.VocabSize; v++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(logits[i * config.VocabSize + v] - c.PromptLogits[i][v]));
            Assert.True(maxDiff <= 1e-4, $"{model} '{c.Prompt}': prompt logits differ by {maxDiff}");

            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Slice((c.PromptIds.Length - 1) * config.VocabSize, config.VocabSize));
            var generated = new List<int>();
            for (int t = 0; t < c.GreedyIds.Length; t++)
            {
                generated.Add(next);
                if (t == c.GreedyIds.Length - 1) break;
                ReadOnlySpan<float> l = m.Forward(state, new[] { next });
                next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(l);
            }
            Assert.True(c.GreedyIds.SequenceEqual(generated), $"{model} '{c.Prompt}': greedy ids differ\nexpected {string.Join(",", c.GreedyIds)}\nactual   {string.Join(",", generated)}");
        }
    }
}
