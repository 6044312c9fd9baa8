using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Tests.Ilgpu;

/// <summary>The device sampler refuses rows the CPU sampler refuses (a NaN, a +infinity, or no finite logit) with
/// <see cref="NonFiniteLogitsException"/>, greedy and sampled, and samples rows it samples (a -infinity beside
/// finite logits is a token that cannot be drawn).</summary>
[Collection("ilgpu")]
public sealed class IlgpuNonFiniteLogitsTests(IlgpuFixture f)
{
    public static TheoryData<string, float, bool> Rows => new()
    {
        { "a NaN", float.NaN, true },
        { "+infinity", float.PositiveInfinity, true },
        { "-infinity beside finite logits", float.NegativeInfinity, false },
        { "a finite extreme", 3e38f, false },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void DeviceSamplerRefusesWhatTheCpuSamplerRefuses(string what, float value, bool refused)
    {
        const int vocab = 37, rows = 3;
        var logits = new float[rows * vocab];
        var rng = new Random(5);
        for (int i = 0; i < logits.Length; i++) logits[i] = rng.NextSingle() * 4f;
        logits[vocab + 20] = value; // in the middle row only: one bad row refuses the call
        foreach (SamplingOptions options in new[] { SamplingOptions.Greedy, new SamplingOptions(0.8f), new SamplingOptions(0.9f, TopK: 5, TopP: 0.9f) })
        {
            foreach (IBackend backend in new IBackend[] { f.Cpu, f.Gpu })
            {
                using DeviceTensor tensor = backend.Allocate(DType.F32, rows, vocab);
                backend.Write(tensor, logits);
                var result = new int[rows];
                var uniforms = new[] { 0.1f, 0.5f, 0.9f };
                if (refused)
                {
                    Assert.Throws<NonFiniteLogitsException>(() => backend.SampleTokens(tensor, rows, options, uniforms, result));
                }
                else
                {
                    backend.SampleTokens(tensor, rows, options, uniforms, result);
                    Assert.All(result, t => Assert.InRange(t, 0, vocab - 1));
                    if (value == float.NegativeInfinity) Assert.NotEqual(20, result[1]); // a -infinity logit is never drawn
                }
            }
        }
        Assert.NotNull(what);
    }

    [Fact]
    public void ARowOfOnlyMinusInfinityIsRefused()
    {
        using DeviceTensor tensor = f.Gpu.Allocate(DType.F32, 1, 40);
        f.Gpu.Write(tensor, Enumerable.Repeat(float.NegativeInfinity, 40).ToArray());
        var result = new int[1];
        Assert.Throws<NonFiniteLogitsException>(() => f.Gpu.ArgMax(tensor, 1, result));
        Assert.Throws<NonFiniteLogitsException>(() => f.Gpu.SampleTokens(tensor, 1, new SamplingOptions(1f), [0.5f], result));
    }

    /// <summary>A tiny model whose weights are finite but overflow: a final norm of 3e38 and an LM head row of 3e38 make
    /// that row's logit infinite (or NaN). ForwardSample on the ILGPU CPU accelerator stops with the CPU backend's
    /// exception, greedy and sampled, instead of emitting a token.</summary>
    [Fact]
    public unsafe void AModelWhoseLogitsOverflowStopsOnTheDevice()
    {
        ModelConfig config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 7, untiedHead: true);
        HostTensor norm = weights.Get("model.norm.weight", config.HiddenSize);
        new Span<float>((void*)norm.Pointer, config.HiddenSize).Fill(3e38f);
        HostTensor head = weights.Get("lm_head.weight", config.VocabSize, config.HiddenSize);
        new Span<float>((void*)head.Pointer, config.HiddenSize).Fill(3e38f); // row 0
        foreach (IBackend backend in new IBackend[] { f.Cpu, f.ModelGpu })
        {
            using TransformerModel model = TransformerModel.Create(config, weights, backend);
            using InferenceState state = model.CreateState(16, maxBatch: 4);
            var next = new int[1];
            Assert.Throws<NonFiniteLogitsException>(() => model.ForwardSample(state, [1, 5, 9], default, SamplingOptions.Greedy, default, next));
            Assert.Throws<NonFiniteLogitsException>(() => model.ForwardSample(state, [3], default, new SamplingOptions(0.8f), [0.25f], next));
        }
    }
}
