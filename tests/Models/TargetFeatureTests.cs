using SpecCore.Kernels.Cpu;
using SpecCore.Models;

namespace SpecCore.Tests.Models;

/// <summary>The hidden states a forward pass keeps for draft heads are the float64 reference's residual stream
/// entering the chosen layers and its final post-norm state, for every row of each batch.</summary>
public class TargetFeatureTests
{
    internal static readonly int[] Tokens = { 1, 17, 5, 42, 9, 63, 0, 31 };

    [Fact]
    public void FeaturesOfEachBatchMatchTheScalarReference()
    {
        var config = BatchForwardTests.TinyConfig() with { Layers = 3 };
        using var weights = new SyntheticWeights(config, seed: 21);
        using var backend = new CpuBackend(2);
        using var model = TransformerModel.Create(config, weights, backend);
        var request = new TargetFeatureRequest(new[] { 2, 0, 3 }, FinalHidden: true);
        var layerInputs = new double[config.Layers + 1][][];
        var finalHidden = new double[Tokens.Length][];
        ScalarReferenceForward.Logits(config, weights, Tokens, layerInputs, finalHidden);

        using var state = model.CreateState(features: request);
        int dim = config.HiddenSize;
        var row = new float[3 * dim];
        var final = new float[dim];
        // A prefill batch whose logits cover the last row only, then a chain batch.
        foreach (var (start, count, rows) in new[] { (0, 5, LogitsRows.Last), (5, 3, LogitsRows.All) })
        {
            model.Forward(state, Tokens.AsSpan(start, count), logitsRows: rows);
            Assert.Equal(count, state.Features!.Rows);
            for (int r = 0; r < count; r++)
            {
                state.Features.ReadConcatenated(r, row);
                for (int j = 0; j < 3; j++)
                    for (int i = 0; i < dim; i++)
                        Assert.True(Math.Abs(row[j * dim + i] - layerInputs[request.LayerInputs[j]][start + r][i]) <= 1e-4,
                            $"token {start + r}, layer {request.LayerInputs[j]}, element {i}");
                state.Features.ReadFinalHidden(r, final);
                for (int i = 0; i < dim; i++)
                    Assert.True(Math.Abs(final[i] - finalHidden[start + r][i]) <= 1e-4, $"token {start + r}, final element {i}");
            }
        }
    }

    [Fact]
    public void LayerOutsideTheModelIsRefused()
    {
        var config = BatchForwardTests.TinyConfig();
        using var weights = new SyntheticWeights(config, seed: 2);
        using var backend = new CpuBackend(1);
        using var model = TransformerModel.Create(config, weights, backend);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateState(features: new TargetFeatureRequest(new[] { 0, config.Layers + 1 })));
        Assert.Contains($"feature layer {config.Layers + 1}", e.Message);
    }
}
