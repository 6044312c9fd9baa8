using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>The CPU backend's row-interleaved Q8_0 / Q4_0 layout (made by UploadWeight): every kernel path (VNNI, forced
/// AVX2 without VNNI, scalar; one and two threads) against the scalar reference dot on the original GGUF blocks for
/// 1..23 output rows (partial groups of 8), several column counts and 1..9 tokens; embedding lookups de-interleave
/// exactly the dequantized rows; a matmul group over packed weights equals separate matmuls bit for bit.</summary>
public unsafe class PackedQuantTests
{
    public static TheoryData<DType, string, int> Cases()
    {
        var data = new TheoryData<DType, string, int>();
        foreach (DType d in new[] { DType.Q8_0, DType.Q4_0 })
            foreach (string path in new[] { "best", "avx2", "scalar" })
                foreach (int threads in new[] { 1, 2 })
                    data.Add(d, path, threads);
        return data;
    }

    /// <summary>The matrix in the backend's upload layout.</summary>
    internal static CpuTensor Upload(CpuBackend backend, CpuTensor plain) =>
        (CpuTensor)backend.UploadWeight(new HostTensor("w", plain.DType, plain.Shape, plain.Pointer, plain.ByteLength));

    [Theory]
    [MemberData(nameof(Cases))]
    public void PackedMatMulMatchesScalarReference(DType dtype, string path, int threads)
    {
        if (path != "scalar" && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var rng = new Random(17 + (int)dtype);
        using var backend = new CpuBackend(threads, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        var shapes = new List<(int Out, int Cols, int[] Batches)>();
        foreach (int cols in new[] { 32, 96, 160, 320 })
            for (int outRows = 1; outRows <= 23; outRows++) shapes.Add((outRows, cols, outRows % 4 == 1 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 4, 9]));
        shapes.Add((301, 320, [1, 4, 9]));
        foreach (var (outRows, cols, batches) in shapes)
        {
            var (plain, _) = Weight(dtype, RandomFloats(rng, outRows * cols), outRows, cols);
            using var __ = plain;
            using var packed = Upload(backend, plain);
            Assert.True(packed.RowInterleaved);
            Assert.False(packed.ReadsUploadedMemory);
            int blocks = cols / 32;
            foreach (int rows in batches)
            {
                float[] xv = RandomFloats(rng, rows * cols, 2f);
                using var x = Activations(xv, rows, cols);
                using var y = Activations(new float[rows * outRows], rows, outRows);
                backend.MatMul(x, packed, y, rows);
                for (int t = 0; t < rows; t++)
                {
                    var (q, d) = QuantizeActivations(xv.AsSpan(t * cols, cols));
                    fixed (sbyte* qp = q)
                    fixed (float* dp = d)
                    {
                        for (int o = 0; o < outRows; o++)
                        {
                            byte* row = (byte*)plain.Pointer + o * dtype.ByteSize(cols);
                            float reference = dtype == DType.Q8_0 ? Q8Activations.DotScalar(row, qp, dp, blocks) : CpuMatMul.DotQ4Scalar(row, qp, dp, blocks);
                            double magnitude = Magnitude(dtype, row, q, d);
                            float got = y.Row(t)[o];
                            Assert.True(Math.Abs(got - reference) <= 1e-5 * magnitude + 1e-6,
                                $"{dtype.Name()} {path} out {outRows} cols {cols} rows {rows}: y[{t},{o}] = {got}, reference {reference}");
                        }
                    }
                }
            }
        }
    }

    /// <summary>Σ_blocks |d_w · d_x| · Σ |w · x|: the scale of the float rounding a reordered sum may differ by.</summary>
    private static double Magnitude(DType dtype, byte* row, sbyte[] q, float[] d)
    {
        double m = 0;
        for (int b = 0; b < d.Length; b++)
        {
            byte* block = row + b * (dtype == DType.Q8_0 ? Q8Format.BlockBytes : Q4Format.BlockBytes);
            long sa = 0;
            for (int i = 0; i < 32; i++)
            {
                int w = dtype == DType.Q8_0 ? ((sbyte*)(block + 2))[i] : (i < 16 ? block[2 + i] & 0x0F : block[2 + i - 16] >> 4) - 8;
                sa += Math.Abs(w * q[b * 32 + i]);
            }
            m += Math.Abs(FloatConversion.F16ToFloat(*(ushort*)block) * d[b]) * sa;
        }
        return m;
    }

    [Fact]
    public void ScaleWideningIsExactForEveryFiniteHalf()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var halves = new short[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = (short)i;
        fixed (short* h = halves)
        {
            for (int i = 0; i < halves.Length; i += 8)
            {
                var v = CpuMatMul.WidenScales(h + i);
                for (int j = 0; j < 8; j++)
                {
                    float expected = FloatConversion.F16ToFloat((ushort)(i + j));
                    if (float.IsFinite(expected)) Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(v[j]));
                }
            }
        }
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void EmbeddingFromPackedTableDequantizesRows(DType dtype)
    {
        var rng = new Random(8);
        const int vocab = 21, dim = 96; // 21 rows: the last group of 8 is partial
        var (plain, stored) = Weight(dtype, RandomFloats(rng, vocab * dim), vocab, dim);
        using var _ = plain;
        using var backend = new CpuBackend(1);
        using var packed = Upload(backend, plain);
        int[] ids = Enumerable.Range(0, vocab).Reverse().ToArray();
        using var o = Activations(new float[vocab * dim], vocab, dim);
        backend.Embed(packed, ids, o);
        for (int i = 0; i < vocab; i++) Assert.Equal(stored.AsSpan(ids[i] * dim, dim).ToArray(), o.Row(i).ToArray());
    }

    [Theory]
    [InlineData("best")]
    [InlineData("avx2")]
    [InlineData("scalar")]
    public void GroupOfPackedMatricesEqualsSeparateMatMuls(string path)
    {
        if (path != "scalar" && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var rng = new Random(23);
        using var backend = new CpuBackend(2, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        const int cols = 288;
        int[] outRows = { 299, 37, 130 };
        DType[] dtypes = { DType.Q8_0, DType.Q4_0, DType.Q8_0 };
        var weights = new DeviceTensor[3];
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var (plain, _) = Weight(dtypes[i], RandomFloats(rng, outRows[i] * cols), outRows[i], cols);
                using (plain) weights[i] = Upload(backend, plain);
            }
            foreach (int rows in new[] { 1, 3, 8 })
            {
                using var x = Activations(RandomFloats(rng, rows * cols), rows, cols);
                var grouped = new DeviceTensor[3];
                var separate = new DeviceTensor[3];
                for (int i = 0; i < 3; i++)
                {
                    grouped[i] = Activations(new float[rows * outRows[i]], rows, outRows[i]);
                    separate[i] = Activations(new float[rows * outRows[i]], rows, outRows[i]);
                    backend.MatMul(x, weights[i], separate[i], rows);
                }
                backend.MatMulGroup(x, weights, grouped, rows);
                for (int i = 0; i < 3; i++)
                {
                    Assert.Equal(((CpuTensor)separate[i]).F32.ToArray(), ((CpuTensor)grouped[i]).F32.ToArray());
                    grouped[i].Dispose();
                    separate[i].Dispose();
                }
            }
        }
        finally
        {
            foreach (var w in weights) w?.Dispose();
        }
    }
}
