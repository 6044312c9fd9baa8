using SpecCore.Kernels;
using SpecCore.Tensors;
using SpecCore.Tests.Models;
using static SpecCore.Tests.Ilgpu.IlgpuKernelTests;

namespace SpecCore.Tests.Ilgpu;

/// <summary>The model-family ops on the ILGPU backend (its CPU accelerator in CI) against the CPU backend:
/// projection biases, per-head q/k RMSNorm and sliding-window attention; and the four architecture probes
/// against their independent references.</summary>
[Collection("ilgpu")]
public class IlgpuFamilyTests
{
    private readonly IlgpuFixture _f;

    public IlgpuFamilyTests(IlgpuFixture f) => _f = f;

    [Fact]
    public void AddBiasMatchesCpu()
    {
        using var p = new Pair(_f, 31);
        foreach (int cols in new[] { 1, 7, 96, 130 })
        {
            const int rows = 3;
            var x = p.Activation(p.Random(rows * cols, 3f), rows, cols);
            var b = p.Weight(DType.F32, 1, cols, vector: true);
            _f.Cpu.AddBias(x.Cpu, b.Cpu, rows);
            _f.Gpu.AddBias(x.Gpu, b.Gpu, rows);
            AssertClose(p.ReadCpu(x.Cpu, rows * cols), p.ReadGpu(x.Gpu, rows * cols), 1e-6, 1e-6, $"bias {cols}");
        }
    }

    [Fact]
    public void HeadRmsNormMatchesCpu()
    {
        using var p = new Pair(_f, 32);
        foreach (var (heads, headDim) in new[] { (4, 32), (2, 7), (3, 128) })
        {
            const int rows = 5;
            int cols = heads * headDim;
            var x = p.Activation(p.Random(rows * cols, 3f), rows, cols);
            var w = p.Weight(DType.F32, 1, headDim, vector: true);
            _f.Cpu.HeadRmsNorm(x.Cpu, w.Cpu, rows, heads, 1e-6f);
            _f.Gpu.HeadRmsNorm(x.Gpu, w.Gpu, rows, heads, 1e-6f);
            AssertClose(p.ReadCpu(x.Cpu, rows * cols), p.ReadGpu(x.Gpu, rows * cols), 1e-5, 1e-6, $"head norm {heads}x{headDim}");
        }
    }

    /// <summary>Windows of 1, 3 and 8 over prefixes shorter and longer than the window and several attention
    /// chunks, with chains and trees deeper than the window.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void SlidingWindowAttentionMatchesCpu(int window)
    {
        using var p = new Pair(_f, 40 + window);
        const int heads = 4, kvHeads = 2, headDim = 16;
        foreach (int prefix in new[] { 0, 5, 3 * IlgpuFixture.AttentionChunk + 7 })
        {
            foreach (int[] parents in new[] { new[] { -1 }, Enumerable.Range(-1, 11).ToArray(), RandomTree(p.Rng, 13) })
            {
                int rows = parents.Length;
                int capacity = prefix + rows + 3;
                int kvDim = kvHeads * headDim;
                var q = p.Activation(p.Random(rows * heads * headDim, 4f), rows, heads * headDim);
                var k = p.Activation(p.Random(capacity * kvDim, 4f), capacity, kvDim);
                var v = p.Activation(p.Random(capacity * kvDim, 2f), capacity, kvDim);
                var o = p.Activation(new float[rows * heads * headDim], rows, heads * headDim);
                var batch = new AttentionBatch(prefix, parents, window);
                _f.Cpu.Attention(q.Cpu, k.Cpu, v.Cpu, o.Cpu, heads, kvHeads, headDim, batch);
                _f.Gpu.Attention(q.Gpu, k.Gpu, v.Gpu, o.Gpu, heads, kvHeads, headDim, batch);
                AssertClose(p.ReadCpu(o.Cpu, rows * heads * headDim), p.ReadGpu(o.Gpu, rows * heads * headDim), 1e-4, 1e-5,
                    $"window {window} prefix {prefix} [{string.Join(",", parents)}]");
            }
        }
    }

    /// <summary>The probes on ILGPU: for every reference prompt, prompt logits within 1e-4 and the first greedy
    /// ids equal to the reference (32 tokens; 3 for the large-vocabulary probes, since the emulated accelerator
    /// spends seconds on each 152k-row LM head; the CPU backend checks every token).</summary>
    [Theory]
    [MemberData(nameof(ProbeReference.Probes), MemberType = typeof(ProbeReference))]
    public void ProbeMatchesReference(string model)
    {
        var reference = ProbeReference.Load(model);
        bool largeVocab = model is "tiny-qwen3" or "tiny-llama3";
        reference.Check(_f.ModelGpu, maxTokens: largeVocab ? 3 : 32);
    }
}
