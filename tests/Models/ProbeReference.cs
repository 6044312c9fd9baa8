using System.Numerics.Tensors;
using System.Text.Json;
using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Models.Safetensors;

namespace SpecCore.Tests.Models;

/// <summary>The reference outputs of a model in ../shared/models/reference (an independent float64
/// implementation), and the check every backend must pass against them: greedy ids exactly equal and
/// prompt logits within 1e-4 (all prompt positions, or for large vocabularies the top-64 and a fixed
/// 4,096-id sample at the last prompt position).</summary>
public sealed class ProbeReference
{
    /// <summary>One reference prompt.</summary>
    public sealed record Case(string Prompt, int[] PromptIds, int[] GreedyIds, float[][]? PromptLogits, (int Id, float Logit)[]? LastLogits);

    /// <summary>The architecture probes (one per family feature).</summary>
    public static TheoryData<string> Probes => new() { "tiny-qwen3", "tiny-llama3", "tiny-qwen2", "tiny-mistral" };

    private ProbeReference(string model, List<Case> cases)
    {
        Model = model;
        Cases = cases;
    }

    /// <summary>The model folder name.</summary>
    public string Model { get; }

    /// <summary>The reference prompts.</summary>
    public IReadOnlyList<Case> Cases { get; }

    /// <summary>Reads reference/&lt;model&gt;.greedy.json.</summary>
    public static ProbeReference Load(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.greedy.json")));
        var root = doc.RootElement;
        JsonElement cases = root.ValueKind == JsonValueKind.Array ? root : root.GetProperty("cases");
        var list = new List<Case>();
        foreach (var c in cases.EnumerateArray())
        {
            float[][]? promptLogits = c.TryGetProperty("prompt_logits", out var pl)
                ? pl.EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray()
                : null;
            (int, float)[]? last = null;
            if (c.TryGetProperty("last_logits_top64", out var top))
            {
                var pairs = top.EnumerateArray().Concat(c.GetProperty("last_logits_sample").EnumerateArray());
                last = pairs.Select(p => (p[0].GetInt32(), p[1].GetSingle())).ToArray();
            }
            list.Add(new Case(
                c.GetProperty("prompt").GetString()!,
                c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                promptLogits, last));
        }
        return new ProbeReference(model, list);
    }

    /// <summary>Loads the model folder on <paramref name="backend"/> and checks the first
    /// <paramref name="maxCases"/> cases (at most <paramref name="maxTokens"/> greedy tokens each).</summary>
    public void Check(IBackend backend, int maxTokens = int.MaxValue, int maxCases = int.MaxValue)
    {
        string dir = TestModels.Path(Model);
        var config = ModelConfig.Load(dir);
        using var weights = CheckpointWeights.Open(dir);
        using var model = TransformerModel.Create(config, weights, backend);
        foreach (var c in Cases.Take(maxCases)) Check(model, c, maxTokens);
    }

    private void Check(TransformerModel m, Case c, int maxTokens)
    {
        int vocab = m.Config.VocabSize;
        using var state = m.CreateState();
        ReadOnlySpan<float> logits = m.Forward(state, c.PromptIds, logitsRows: c.PromptLogits != null ? LogitsRows.All : LogitsRows.Last);
        double maxDiff = 0;
        if (c.PromptLogits != null)
        {
            for (int i = 0; i < c.PromptIds.Length; i++)
                for (int v = 0; v < vocab; v++)
                    maxDiff = Math.Max(maxDiff, Math.Abs(logits[i * vocab + v] - c.PromptLogits[i][v]));
            logits = logits.Slice((c.PromptIds.Length - 1) * vocab, vocab);
        }
        else
        {
            foreach (var (id, logit) in c.LastLogits!) maxDiff = Math.Max(maxDiff, Math.Abs(logits[id] - logit));
        }
        Assert.True(maxDiff <= 1e-4, $"{Model} '{c.Prompt}': prompt logits differ by {maxDiff}");

        int count = Math.Min(c.GreedyIds.Length, maxTokens);
        var generated = new List<int>();
        int next = TensorPrimitives.IndexOfMax(logits);
        for (int t = 0; t < count; t++)
        {
            generated.Add(next);
            if (t == count - 1) break;
            next = TensorPrimitives.IndexOfMax(m.Forward(state, new[] { next }));
        }
        Assert.True(c.GreedyIds.Take(count).SequenceEqual(generated),
            $"{Model} '{c.Prompt}': greedy ids differ\nexpected {string.Join(",", c.GreedyIds.Take(count))}\nactual   {string.Join(",", generated)}");
    }
}
