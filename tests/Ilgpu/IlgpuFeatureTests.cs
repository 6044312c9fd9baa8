using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Tests.Ilgpu;

/// <summary>Target features kept on the ILGPU backend equal the CPU backend's, for a tree batch after a prefix.</summary>
[Collection("ilgpu")]
public class IlgpuFeatureTests
{
    private readonly IlgpuFixture _f;

    public IlgpuFeatureTests(IlgpuFixture f) => _f = f;

    [Fact]
    public void TreeBatchFeaturesEqualCpu()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 13, DType.BF16);
        using var cpu = TransformerModel.Create(config, weights, _f.Cpu);
        using var gpu = TransformerModel.Create(config, weights, _f.ModelGpu);
        var request = new TargetFeatureRequest(new[] { 1, 0, 2 }, FinalHidden: true);
        using var cs = cpu.CreateState(features: request);
        using var gs = gpu.CreateState(features: request);
        int[] prefix = { 1, 7, 3, 9 };
        int[] tree = { 5, 8, 11, 2 };
        int[] parents = { -1, 0, 0, 1 };
        cpu.Forward(cs, prefix, logitsRows: LogitsRows.Last);
        gpu.Forward(gs, prefix, logitsRows: LogitsRows.Last);
        cpu.Forward(cs, tree, parents);
        gpu.Forward(gs, tree, parents);
        int dim = config.HiddenSize;
        float[] a = new float[3 * dim], b = new float[3 * dim], fa = new float[dim], fb = new float[dim];
        for (int r = 0; r < tree.Length; r++)
        {
            cs.Features!.ReadConcatenated(r, a);
            gs.Features!.ReadConcatenated(r, b);
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-4 + 1e-4 * Math.Abs(a[i]), $"row {r}, element {i}: {a[i]} vs {b[i]}");
            cs.Features.ReadFinalHidden(r, fa);
            gs.Features.ReadFinalHidden(r, fb);
            for (int i = 0; i < dim; i++) Assert.True(Math.Abs(fa[i] - fb[i]) <= 1e-4 + 1e-4 * Math.Abs(fa[i]), $"row {r}, final {i}: {fa[i]} vs {fb[i]}");
        }
    }
}
