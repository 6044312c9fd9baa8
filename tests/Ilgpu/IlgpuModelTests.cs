using System.Numerics.Tensors;
using System.Text.Json;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Tests.Ilgpu;

/// <summary>The whole forward pass on the ILGPU backend against the CPU backend: greedy generation must
/// produce the same tokens, and a token-tree batch the same logits.</summary>
[Collection("ilgpu")]
public class IlgpuModelTests
{
    private readonly IlgpuFixture _f;

    public IlgpuModelTests(IlgpuFixture f) => _f = f;

    private static int[] Greedy(TransformerModel model, int[] prompt, int count)
    {
        using var state = model.CreateState();
        int vocab = model.Config.VocabSize;
        ReadOnlySpan<float> logits = model.Forward(state, prompt, logitsRows: LogitsRows.Last);
        var ids = new List<int>();
        int next = TensorPrimitives.IndexOfMax(logits[..vocab]);
        while (true)
        {
            ids.Add(next);
            if (ids.Count == count) break;
            next = TensorPrimitives.IndexOfMax(model.Forward(state, new[] { next }));
        }
        return ids.ToArray();
    }

    /// <summary>Tiny random model (GQA, untied head): 40 greedy tokens (the cache passes several attention
    /// chunks) equal the CPU backend's.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void TinyModelGreedyEqualsCpu(DType dtype)
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 11, dtype);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        int[] prompt = { 1, 17, 5, 42, 9 };
        Assert.Equal(Greedy(cpu, prompt, 40), Greedy(gpu, prompt, 40));
    }

    /// <summary>The ILGPU backend keeps F32 KV caches: asking for F16 is refused with a message naming it, and the
    /// default stays F32.</summary>
    [Fact]
    public void F16KvCacheIsRefusedClearly()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 11);
        var e = Assert.Throws<NotSupportedException>(() => TransformerModel.Create(config, weights, _f.ModelGpu, kvType: DType.F16));
        Assert.Contains("f32", e.Message);
        Assert.False(_f.ModelGpu.SupportsF16KvCache);
        using var model = TransformerModel.Create(config, weights, _f.ModelGpu);
        Assert.Equal(DType.F32, model.KvCacheType);
    }

    /// <summary>A random token tree verified in one batch after a prefix: every row's logits match the CPU's
    /// (tolerance 1e-4 relative + 1e-4).</summary>
    [Fact]
    public void TinyModelTreeLogitsEqualCpu()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 12, DType.BF16);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        var rng = new Random(5);
        int[] prefix = Enumerable.Range(0, 23).Select(_ => rng.Next(config.VocabSize)).ToArray();
        int[] tree = Enumerable.Range(0, 11).Select(_ => rng.Next(config.VocabSize)).ToArray();
        int[] parents = IlgpuKernelTests.RandomTree(rng, tree.Length);
        using var cs = cpu.CreateState();
        using var gs = gpu.CreateState();
        cpu.Forward(cs, prefix);
        gpu.Forward(gs, prefix);
        float[] expected = cpu.Forward(cs, tree, parents).ToArray();
        float[] actual = gpu.Forward(gs, tree, parents).ToArray();
        IlgpuKernelTests.AssertClose(expected, actual, 1e-4, 1e-4, $"tree logits, parents [{string.Join(",", parents)}]");
    }

    /// <summary>stories260K (the smallest real checkpoint): the first 32 greedy tokens of two reference
    /// prompts equal the CPU backend's and the reference file's.</summary>
    [Fact]
    public void Stories260KGreedyEqualsCpuAndReference()
    {
        string dir = TestModels.Path("stories260K");
        var config = ModelConfig.Load(dir);
        using var weights = CheckpointWeights.Open(dir);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        using var doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path("reference/stories260K.greedy.json")));
        JsonElement root = doc.RootElement;
        JsonElement cases = root.ValueKind == JsonValueKind.Array ? root : root.GetProperty("cases");
        foreach (JsonElement c in cases.EnumerateArray().Take(2))
        {
            int[] prompt = c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] reference = c.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).Take(32).ToArray();
            int[] expected = Greedy(cpu, prompt, reference.Length);
            int[] actual = Greedy(gpu, prompt, reference.Length);
            Assert.Equal(expected, actual);
            Assert.Equal(reference, actual);
        }
    }
}
