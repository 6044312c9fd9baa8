using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Tensors;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>Q4_0: the block format as llama.cpp writes it, every matmul path (VNNI / AVX2 tiles with 4- and 2-token
/// heights, the forced AVX2 path without VNNI, the scalar path; one and two threads) against the exact Q4 × Q8
/// arithmetic in double precision, and a tiny random model whose batched forward equals single steps on every path.</summary>
public unsafe class Q4Tests
{
    [Fact]
    public void QuantizeRowFollowsLlamaCppReference()
    {
        // The first value of largest magnitude is −2: d = −2 / −8 = 0.25, and it maps to nibble 0; 0.9 / 0.25 + 8.5 = 12.1
        // → 12; +2 gives 16.5 → 16, clamped to 15.
        var x = new float[32];
        x[0] = -2f; x[1] = 0.9f; x[2] = 2f; x[16] = -0.13f; x[31] = 0.125f;
        var block = new byte[Q4Format.BlockBytes];
        fixed (byte* b = block)
        {
            Q4Format.QuantizeRow(x, b);
            Assert.Equal(0.25f, FloatConversion.F16ToFloat(*(ushort*)b));
            // Weight j in the low nibble of byte j, weight j + 16 in its high nibble.
            Assert.Equal(0, block[2] & 0x0F);
            Assert.Equal(12, block[3] & 0x0F);
            Assert.Equal(15, block[4] & 0x0F);
            Assert.Equal(8, block[5] & 0x0F);            // zero → 8.5 → 8
            Assert.Equal(7, block[2] >> 4);              // −0.13 / 0.25 + 8.5 = 7.98 → 7 (truncation, not rounding)
            Assert.Equal(9, block[17] >> 4);             // 0.125 / 0.25 + 8.5 = 9
        }
    }

    public static TheoryData<string, int> Paths() => new() { { "best", 1 }, { "best", 2 }, { "avx2", 1 }, { "avx2", 2 }, { "scalar", 1 }, { "scalar", 2 } };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q4WeightsMatchExactQ4Arithmetic(string path, int threads)
    {
        if (path != "scalar" && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var rng = new Random(41);
        using var backend = new CpuBackend(threads, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        foreach (int outRows in new[] { 5, 9, 301 })
        {
            foreach (int cols in new[] { 32, 96, 160, 288 })
            {
                float[] values = RandomFloats(rng, outRows * cols);
                var (w, stored) = Weight(DType.Q4_0, values, outRows, cols);
                using var _ = w;
                foreach (int rows in outRows == 9 ? Enumerable.Range(1, 13) : new[] { 1, 3, 8 })
                {
                    float[] xv = RandomFloats(rng, rows * cols, 2f);
                    using var x = Activations(xv, rows, cols);
                    using var y = Activations(new float[rows * outRows], rows, outRows);
                    backend.MatMul(x, w, y, rows);
                    for (int t = 0; t < rows; t++)
                    {
                        var (q, d) = QuantizeActivations(xv.AsSpan(t * cols, cols));
                        for (int o = 0; o < outRows; o++)
                        {
                            byte* row = (byte*)w.Pointer + o * DType.Q4_0.ByteSize(cols);
                            double exact = 0, magnitude = 0, dequantized = 0, scale = 0;
                            for (int b = 0; b < cols / 32; b++)
                            {
                                byte* block = row + b * Q4Format.BlockBytes;
                                double dw = FloatConversion.F16ToFloat(*(ushort*)block);
                                long s = 0, sa = 0;
                                for (int i = 0; i < 32; i++)
                                {
                                    int nibble = i < 16 ? block[2 + i] & 0x0F : block[2 + i - 16] >> 4;
                                    int p = (nibble - 8) * q[b * 32 + i];
                                    s += p;
                                    sa += Math.Abs(p);
                                }
                                exact += dw * d[b] * s;
                                magnitude += Math.Abs(dw * d[b]) * sa;
                            }
                            for (int i = 0; i < cols; i++)
                            {
                                dequantized += (double)stored[o * cols + i] * xv[t * cols + i];
                                scale += Math.Abs((double)stored[o * cols + i] * xv[t * cols + i]);
                            }
                            float got = y.Row(t)[o];
                            Assert.True(Math.Abs(got - exact) <= 1e-5 * magnitude + 1e-6,
                                $"q4_0 {path} out {outRows} cols {cols} rows {rows}: y[{t},{o}] = {got}, exact Q4 {exact}");
                            // Only the activations' int8 rounding separates the kernel from the dequantized weights.
                            Assert.True(Math.Abs(got - dequantized) <= 0.03 * scale + 1e-6,
                                $"q4_0 {path} out {outRows} cols {cols}: y[{t},{o}] = {got}, dequantized {dequantized}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Q4RejectsColumnsNotMultipleOf32()
    {
        using var backend = new CpuBackend(1);
        using var x = Activations(new float[40], 1, 40);
        using var bad = new CpuTensor(DType.Q4_0, new[] { 2, 40 }, new NativeBuffer(DType.Q4_0.ByteSize(80) + 8));
        using var y = Activations(new float[2], 1, 2);
        Assert.Throws<ArgumentException>(() => backend.MatMul(x, bad, y, 1));
    }

    [Fact]
    public void Q4BatchEqualsStepsAndPathsAgree()
    {
        var config = ModelPresets.Get("tiny");
        using var weights = new SyntheticWeights(config, seed: 12);
        int[] tokens = { 1, 17, 5, 42, 9, 63, 0, 31, 8 };
        float[]? previous = null;
        foreach (string path in new[] { "best", "avx2", "scalar" })
        {
            using var backend = new CpuBackend(2, forceScalar: path == "scalar", forceAvx2: path == "avx2");
            using var model = TransformerModel.Create(config, weights, backend, DType.Q4_0);
            Assert.Equal(DType.Q4_0, model.WeightType);
            using var batched = model.CreateState();
            model.Forward(batched, tokens.AsSpan(0, 2));
            float[] batch = model.Forward(batched, tokens.AsSpan(2)).ToArray();
            using var stepped = model.CreateState();
            model.Forward(stepped, tokens.AsSpan(0, 2));
            for (int i = 2; i < tokens.Length; i++)
            {
                ReadOnlySpan<float> step = model.Forward(stepped, tokens.AsSpan(i, 1));
                for (int v = 0; v < config.VocabSize; v++)
                    Assert.True(Math.Abs(step[v] - batch[(i - 2) * config.VocabSize + v]) <= 1e-4, $"{path}: token {i} vocab {v}");
            }
            if (previous != null)
                for (int j = 0; j < batch.Length; j++) Assert.True(Math.Abs(previous[j] - batch[j]) <= 1e-4, $"{path}: paths differ at {j}");
            previous = batch;
        }
    }

    [Fact]
    public void Q4EmbeddingDequantizesRows()
    {
        var rng = new Random(6);
        var (t, stored) = Weight(DType.Q4_0, RandomFloats(rng, 10 * 64), 10, 64);
        using var _ = t;
        using var backend = new CpuBackend(1);
        using var o = Activations(new float[2 * 64], 2, 64);
        backend.Embed(t, new[] { 3, 9 }, o);
        Assert.Equal(stored.AsSpan(3 * 64, 64).ToArray(), o.Row(0).ToArray());
        Assert.Equal(stored.AsSpan(9 * 64, 64).ToArray(), o.Row(1).ToArray());
    }
}
