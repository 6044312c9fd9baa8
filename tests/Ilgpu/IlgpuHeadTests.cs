using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Heads;
using SpecCore.Tensors;
using SpecCore.Tests.Speculation;

namespace SpecCore.Tests.Ilgpu;

/// <summary>Draft heads on the ILGPU backend: an EAGLE-3 head step gives the CPU backend's logits, and greedy decoding
/// with EAGLE-3 (chain, dynamic tree) and Medusa heads equals plain greedy decoding on the CPU; EAGLE tree nodes score as
/// their paths do.</summary>
[Collection("ilgpu")]
public sealed class IlgpuHeadTests : IDisposable
{
    private readonly IlgpuFixture _f;
    private readonly List<string> _folders = new();

    public IlgpuHeadTests(IlgpuFixture f) => _f = f;

    public void Dispose()
    {
        foreach (string d in _folders) Directory.Delete(d, true);
    }

    private static ModelConfig Config => ModelPresets.Get("tiny") with { EosIds = Array.Empty<int>() };

    [Fact]
    public void Eagle3StepEqualsCpu()
    {
        var config = Config;
        using var weights = new SyntheticWeights(config, seed: 31, DType.BF16);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        var (folder, _) = TestHeads.WriteEagle3(config, draftVocab: 40, rank: 8);
        _folders.Add(folder);
        using var ch = Eagle3Head.Load(folder, cpu);
        using var gh = Eagle3Head.Load(folder, gpu);
        int[] tokens = { 1, 9, 33, 4, 60 };
        int n = tokens.Length - 1;
        float[] Logits(TransformerModel model, Eagle3Head head)
        {
            using var state = model.CreateState(features: head.FeatureRequest);
            model.Forward(state, tokens);
            using var s = head.CreateState(16, 8);
            var rows = Enumerable.Range(0, n).ToArray();
            head.ComputeFc(s, state.Features!, rows);
            model.Backend.CopyRows(s.Fc, 0, s.G, 0, n);
            head.Step(s, n, tokens.AsSpan(1), Enumerable.Range(1, n).ToArray(), 0, Enumerable.Range(-1, n).ToArray());
            head.FeedBack(s, new[] { n - 1 });
            head.Step(s, 1, new[] { 7 }, new[] { n + 1 }, n, new[] { -1 });
            return head.ReadLogits(s, 1).ToArray();
        }
        float[] a = Logits(cpu, ch), b = Logits(gpu, gh);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 + 1e-4 * Math.Abs(a[i]), $"draft id {i}: {a[i]} vs {b[i]}");
    }

    /// <summary>EAGLE tree levels on ILGPU (shared prefix + cached tree rows): each node scores as its path does.</summary>
    [Fact]
    public void Eagle3TreeNodesScoreAsTheirPaths()
    {
        var config = Config;
        using var weights = new SyntheticWeights(config, seed: 31, DType.BF16);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        var (folder, _) = TestHeads.WriteEagle3(config, draftVocab: 40);
        _folders.Add(folder);
        Eagle3DrafterTests.AssertTreeNodesScoreAsTheirPaths(gpu, folder, "dynamic:12");
    }

    [Theory]
    [InlineData("eagle3", "chain:3")]
    [InlineData("eagle3", "dynamic:6:3:2")]
    [InlineData("medusa", "dynamic:8")]
    public void GreedyWithHeadsEqualsPlain(string kind, string setting)
    {
        var config = Config;
        using var weights = new SyntheticWeights(config, seed: 32, DType.BF16);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        int[] prompt = { 1, 17, 5 };
        int[] expected;
        using (var plain = new Generator(cpu)) expected = plain.Generate(prompt, new GenerationOptions { MaxNewTokens = setting.StartsWith("dynamic:6") ? 6 : 10, IgnoreEos = true }).Tokens;
        string folder = kind == "eagle3" ? TestHeads.WriteEagle3(config, draftVocab: 48).Folder : TestMedusa.Write(config, heads: 2).Folder;
        _folders.Add(folder);
        using var drafter = HeadDrafters.Create(folder, gpu, SamplingOptions.Greedy, 64);
        using var generator = new Generator(gpu, drafter, contextSize: 64);
        var (tokens, stats) = generator.Generate(prompt, Eagle3DrafterTests.Options(setting, expected.Length));
        Assert.Equal(expected, tokens);
        Assert.True(stats.DraftedTokens > 0);
    }
}
