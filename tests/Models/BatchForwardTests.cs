using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Tests.Models;

/// <summary>A forward pass over N tokens must equal N single-token steps: the property that makes
/// prefill and multi-token verification correct.</summary>
public class BatchForwardTests
{
    public static TheoryData<int, bool, DType> Variants()
    {
        var data = new TheoryData<int, bool, DType>();
        foreach (int kvHeads in new[] { 4, 2 })
            foreach (bool tied in new[] { true, false })
                foreach (DType d in new[] { DType.F32, DType.F16, DType.BF16 })
                    data.Add(kvHeads, tied, d);
        return data;
    }

    /// <summary>The "tiny" preset with no EOS id: random weights would end generations at arbitrary points, so the
    /// tests that need a stop token give the config their own.</summary>
    internal static ModelConfig TinyConfig(int kvHeads = 2, bool tied = false, int vocab = 64) =>
        ModelPresets.Get("tiny") with { KvHeads = kvHeads, TieWordEmbeddings = tied, VocabSize = vocab, EosIds = Array.Empty<int>() };

    [Theory]
    [MemberData(nameof(Variants))]
    public void BatchEqualsSingleSteps(int kvHeads, bool tied, DType dtype)
    {
        var config = TinyConfig(kvHeads, tied);
        using var weights = new SyntheticWeights(config, seed: 7, dtype);
        using var backend = new CpuBackend(2);
        using var model = TransformerModel.Create(config, weights, backend);
        int[] tokens = { 1, 17, 5, 42, 9, 63, 0, 31, 8, 22, 3 };
        int vocab = config.VocabSize;

        using var batched = model.CreateState();
        model.Forward(batched, tokens.AsSpan(0, 3));
        float[] batchLogits = model.Forward(batched, tokens.AsSpan(3)).ToArray();

        using var stepped = model.CreateState();
        model.Forward(stepped, tokens.AsSpan(0, 3));
        for (int i = 3; i < tokens.Length; i++)
        {
            ReadOnlySpan<float> step = model.Forward(stepped, tokens.AsSpan(i, 1));
            for (int v = 0; v < vocab; v++)
                Assert.True(Math.Abs(step[v] - batchLogits[(i - 3) * vocab + v]) <= 1e-4,
                    $"token {i}, vocab {v}: single {step[v]} vs batch {batchLogits[(i - 3) * vocab + v]}");
        }
        Assert.Equal(tokens.Length, batched.Length);
    }

    [Fact]
    public void LastRowLogitsEqualAllRowsLast()
    {
        var config = TinyConfig();
        using var weights = new SyntheticWeights(config, seed: 3);
        using var backend = new CpuBackend(1);
        using var model = TransformerModel.Create(config, weights, backend);
        int[] tokens = { 1, 2, 3, 4, 5 };
        using var a = model.CreateState();
        float[] all = model.Forward(a, tokens).ToArray();
        using var b = model.CreateState();
        float[] last = model.Forward(b, tokens, logitsRows: LogitsRows.Last).ToArray();
        Assert.Equal(all.AsSpan(4 * config.VocabSize).ToArray(), last);
    }
}
