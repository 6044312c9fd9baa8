using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>Q8_0 end to end on a tiny random model: a batched forward equals single steps, the SIMD and
/// portable kernels agree, and a q8_0 embedding table (tied head) is looked up by dequantizing its row.</summary>
public class Q8ModelTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Q8BatchEqualsStepsAndPathsAgree(bool tied)
    {
        var config = ModelPresets.Get("tiny") with { TieWordEmbeddings = tied };
        using var weights = new SyntheticWeights(config, seed: 11);
        int[] tokens = { 1, 17, 5, 42, 9, 63, 0, 31, 8 };
        float[]? previous = null;
        foreach (bool scalar in new[] { false, true })
        {
            using var backend = new CpuBackend(2, scalar);
            using var model = TransformerModel.Create(config, weights, backend, DType.Q8_0);
            Assert.Equal(DType.Q8_0, model.WeightType);
            using var batched = model.CreateState();
            model.Forward(batched, tokens.AsSpan(0, 2));
            float[] batch = model.Forward(batched, tokens.AsSpan(2)).ToArray();
            using var stepped = model.CreateState();
            model.Forward(stepped, tokens.AsSpan(0, 2));
            for (int i = 2; i < tokens.Length; i++)
            {
                ReadOnlySpan<float> step = model.Forward(stepped, tokens.AsSpan(i, 1));
                for (int v = 0; v < config.VocabSize; v++)
                    Assert.True(Math.Abs(step[v] - batch[(i - 2) * config.VocabSize + v]) <= 1e-4, $"token {i} vocab {v}");
            }
            if (previous != null)
                for (int j = 0; j < batch.Length; j++) Assert.True(Math.Abs(previous[j] - batch[j]) <= 1e-4, $"paths differ at {j}");
            previous = batch;
        }
    }

    [Fact]
    public unsafe void Q8EmbeddingDequantizesRows()
    {
        var rng = new Random(5);
        float[] table = KernelTestUtil.RandomFloats(rng, 10 * 64);
        var (t, stored) = KernelTestUtil.Weight(DType.Q8_0, table, 10, 64);
        using var _ = t;
        using var backend = new CpuBackend(1);
        using var o = KernelTestUtil.Activations(new float[3 * 64], 3, 64);
        backend.Embed(t, new[] { 7, 0, 9 }, o);
        int[] ids = { 7, 0, 9 };
        for (int i = 0; i < 3; i++) Assert.Equal(stored.AsSpan(ids[i] * 64, 64).ToArray(), o.Row(i).ToArray());
    }
}
