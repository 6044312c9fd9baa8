using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>
/// Every matmul path (AVX-512 tiles, AVX2 tiles, and the portable fallback, one and two threads) against a scalar
/// double-precision reference, for every dtype, column counts 1..130 (Q8_0: multiples of 32) and
/// 1..17 token rows. Tolerance for F32/BF16/F16: |y − ref| ≤ 1e-5 · Σ|w·x| + 1e-6 (the kernels compute
/// with the weights' exact F32 values, so only float summation order differs). Q8_0 is compared with
/// the exact Q8 arithmetic (quantized activations, integer block dots, F16 weight scales) under the
/// same tolerance, and with the unquantized product within 3% of Σ|w·x|.
/// </summary>
public unsafe class MatMulTests
{
    /// <summary>The kernel paths: "best" (what the machine picks), "avx2" (forced) and "scalar".</summary>
    public static TheoryData<DType, string, int> FloatCases()
    {
        var data = new TheoryData<DType, string, int>();
        foreach (DType d in new[] { DType.F32, DType.BF16, DType.F16 })
            foreach (string path in new[] { "best", "avx2", "scalar" })
                foreach (int threads in new[] { 1, 2 })
                    data.Add(d, path, threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(FloatCases))]
    public void FloatWeightsMatchReference(DType dtype, string path, int threads)
    {
        if (path == "avx2" && !(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported)) return;
        var rng = new Random(1234 + (int)dtype);
        using var backend = new CpuBackend(threads, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        foreach (int outRows in new[] { 9, 301 })
        {
            for (int cols = 1; cols <= 130; cols += outRows == 9 ? 1 : 7)
            {
                var (w, stored) = Weight(dtype, RandomFloats(rng, outRows * cols), outRows, cols);
                using var _ = w;
                // 33 and 38 tokens reach the 6-row tile of long batches for F16 as well (row remainders 0..5 of 6 and 4).
                foreach (int rows in outRows == 9 ? Enumerable.Range(1, 17) : new[] { 1, 4, 7, 17, 33, 38 })
                    Check(backend, w, stored, rng, rows, outRows, cols, dtype.Name());
            }
        }
    }

    public static TheoryData<string, int> Q8Cases() => new() { { "best", 1 }, { "best", 2 }, { "avx2", 2 }, { "scalar", 1 }, { "scalar", 2 } };

    [Theory]
    [MemberData(nameof(Q8Cases))]
    public void Q8WeightsMatchExactQ8Arithmetic(string path, int threads)
    {
        if (path == "avx2" && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var rng = new Random(77);
        using var backend = new CpuBackend(threads, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        foreach (int outRows in new[] { 5, 9, 301 })
        {
            foreach (int cols in new[] { 32, 64, 96, 128, 160, 256, 768 })
            {
                float[] values = RandomFloats(rng, outRows * cols);
                var (w, stored) = Weight(DType.Q8_0, values, outRows, cols);
                using var _ = w;
                foreach (int rows in outRows == 9 ? Enumerable.Range(1, 17) : new[] { 1, 3, 8 })
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
                            byte* row = (byte*)w.Pointer + o * DType.Q8_0.ByteSize(cols);
                            double exact = 0, magnitude = 0, unquantized = 0;
                            for (int b = 0; b < cols / 32; b++)
                            {
                                byte* block = row + b * Q8Format.BlockBytes;
                                double dw = FloatConversion.F16ToFloat(*(ushort*)block);
                                long s = 0, sa = 0;
                                for (int i = 0; i < 32; i++)
                                {
                                    int p = ((sbyte*)(block + 2))[i] * q[b * 32 + i];
                                    s += p;
                                    sa += Math.Abs(p);
                                }
                                exact += dw * d[b] * s;
                                magnitude += dw * d[b] * sa;
                            }
                            double reference = 0;
                            for (int i = 0; i < cols; i++)
                            {
                                unquantized += (double)stored[o * cols + i] * xv[t * cols + i];
                                reference += Math.Abs((double)stored[o * cols + i] * xv[t * cols + i]);
                            }
                            float got = y.Row(t)[o];
                            Assert.True(Math.Abs(got - exact) <= 1e-5 * magnitude + 1e-6,
                                $"q8_0 out {outRows} cols {cols} rows {rows}: y[{t},{o}] = {got}, exact Q8 {exact}");
                            Assert.True(Math.Abs(got - unquantized) <= 0.03 * reference + 1e-6,
                                $"q8_0 out {outRows} cols {cols}: y[{t},{o}] = {got}, unquantized {unquantized}");
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void Q8ActivationQuantizersGiveIdenticalBytes()
    {
        var rng = new Random(5);
        const int blocks = 64;
        float[] x = RandomFloats(rng, blocks * 32, 3f);
        for (int i = 0; i < 32; i++) x[i] = (i - 16) * 0.5f; // exact halves: round-half-even must agree
        Array.Clear(x, 32, 32);                             // an all-zero block: scale 0
        var (qs, ds) = (new sbyte[x.Length], new float[blocks]);
        var (q2, d2) = (new sbyte[x.Length], new float[blocks]);
        var (q5, d5) = (new sbyte[x.Length], new float[blocks]);
        fixed (float* xp = x)
        fixed (sbyte* qsp = qs, q2p = q2, q5p = q5)
        fixed (float* dsp = ds, d2p = d2, d5p = d5)
        {
            Q8Activations.QuantizeRowScalar(xp, blocks, qsp, dsp);
            if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
            {
                Q8Activations.QuantizeRowAvx2(xp, blocks, q2p, d2p);
                Assert.Equal(qs, q2);
                Assert.Equal(ds, d2);
            }
            if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            {
                Q8Activations.QuantizeRowAvx512(xp, blocks, q5p, d5p);
                Assert.Equal(qs, q5);
                Assert.Equal(ds, d5);
            }
        }
    }

    [Fact]
    public void Q8RejectsColumnsNotMultipleOf32()
    {
        using var backend = new CpuBackend(1);
        var (w, _) = Weight(DType.Q8_0, new float[64], 2, 32);
        using var __ = w;
        using var x = Activations(new float[40], 1, 40);
        using var bad = new CpuTensor(DType.Q8_0, new[] { 2, 40 }, new NativeBuffer(DType.Q8_0.ByteSize(80) + 8));
        using var y = Activations(new float[2], 1, 2);
        Assert.Throws<ArgumentException>(() => backend.MatMul(x, bad, y, 1));
    }

    [Fact]
    public void SimdHalfWidensEveryBitPatternExactlyWithAvx2()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var bits = new uint[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (uint)i;
        fixed (uint* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 8)
            {
                var v = SimdHalf.ToSingle(System.Runtime.Intrinsics.Vector256.Load(p + i));
                for (int j = 0; j < 8; j++)
                {
                    float expected = FloatConversion.F16ToFloat((ushort)(i + j));
                    if (float.IsNaN(expected)) Assert.True(float.IsNaN(v[j]), $"half 0x{i + j:x4}");
                    else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(v[j]));
                }
            }
        }
    }

    [Fact]
    public void SimdHalfWidensEveryBitPatternExactly()
    {
        var bits = new uint[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (uint)i;
        fixed (uint* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                var v = SimdHalf.ToSingle(System.Runtime.Intrinsics.Vector512.Load(p + i));
                for (int j = 0; j < 16; j++)
                {
                    float expected = FloatConversion.F16ToFloat((ushort)(i + j));
                    float got = v[j];
                    if (float.IsNaN(expected)) Assert.True(float.IsNaN(got), $"half 0x{i + j:x4}");
                    else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(got));
                    if (!float.IsNaN(expected) && !float.IsInfinity(expected))
                        Assert.Equal(expected, SimdHalf.ToSingle((ushort)(i + j)));
                }
            }
        }
    }

    [Fact]
    public void SimdHalfWidensEveryFiniteBitPatternExactlyFromSignExtendedLanes()
    {
        // Both widths, every finite half (subnormals, both zeros, the largest magnitudes), sign-extended as vpmovsxwd
        // leaves them; infinities and NaN are outside the weight loader's contract.
        var bits = new int[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (short)(ushort)i;
        fixed (int* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                var wide = SimdHalf.FiniteToSingle(System.Runtime.Intrinsics.Vector512.Load(p + i));
                var narrow = System.Runtime.Intrinsics.X86.Avx2.IsSupported ? SimdHalf.FiniteToSingle(System.Runtime.Intrinsics.Vector256.Load(p + i)) : default;
                for (int j = 0; j < 16; j++)
                {
                    float expected = FloatConversion.F16ToFloat((ushort)(i + j));
                    if (!float.IsFinite(expected)) continue;
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(wide[j]));
                    if (j < 8 && System.Runtime.Intrinsics.X86.Avx2.IsSupported)
                        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(narrow[j]));
                }
            }
        }
    }

    private static void Check(CpuBackend backend, CpuTensor w, float[] stored, Random rng, int rows, int outRows, int cols, string what)
    {
        float[] xv = RandomFloats(rng, rows * cols);
        using var x = Activations(xv, rows, cols);
        using var y = Activations(new float[rows * outRows], rows, outRows);
        backend.MatMul(x, w, y, rows);
        for (int t = 0; t < rows; t++)
        {
            for (int o = 0; o < outRows; o++)
            {
                double sum = 0, magnitude = 0;
                for (int i = 0; i < cols; i++)
                {
                    double p = (double)stored[o * cols + i] * xv[t * cols + i];
                    sum += p;
                    magnitude += Math.Abs(p);
                }
                float got = y.Row(t)[o];
                Assert.True(Math.Abs(got - sum) <= 1e-5 * magnitude + 1e-6,
                    $"{what} out {outRows} cols {cols} rows {rows}: y[{t},{o}] = {got}, expected {sum}");
            }
        }
    }
}
