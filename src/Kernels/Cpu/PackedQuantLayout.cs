using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>The CPU backend's row-interleaved ("packed") copy of a Q8_0 or Q4_0 matrix, made once at upload so that
/// one 32-byte load feeds one vpdpbusd for 8 output rows at once.</summary>
/// <remarks>
/// Rows are taken in groups of <see cref="GroupRows"/> (the last group padded with zero rows); a group is stored as its
/// 32-value blocks one after another, and each group block is
/// <list type="bullet">
/// <item>8 F32 scales, one per row (the F16 block scales widened once here, so the kernels do no table lookups);</item>
/// <item>Q8_0: 8 steps of 32 bytes; step k holds, for row r, bytes 4r..4r+3 = the row's values 4k..4k+3 stored as
/// w + 128 (unsigned; see <see cref="CpuMatMul"/>'s packed kernels for why);</item>
/// <item>Q4_0: 4 pairs of 32 bytes; in pair p, byte 4r + i holds row r's nibble of value 8p + i in its low half and
/// of value 8p + 4 + i in its high half (so a load and a mask give step 2p, a shift and a mask step 2p + 1), nibbles
/// as in Q4_0 (value = nibble − 8).</item>
/// </list>
/// A broadcast of a token's 4 int8 activations at step k times a step's 32 bytes gives 8 lanes of 4-value dots,
/// one per row, so after the 8 steps of a block every int32 lane holds its row's whole block dot.
/// The int8 values and scales are exactly those of the GGUF blocks: the layout changes no result.
/// </remarks>
internal static unsafe class PackedQuantLayout
{
    /// <summary>Output rows interleaved in one group.</summary>
    public const int GroupRows = 8;

    /// <summary>Bytes of a group block's scales (8 F32).</summary>
    public const int ScaleBytes = GroupRows * sizeof(float);

    /// <summary>True for the dtypes this layout holds (Q8_0, Q4_0).</summary>
    public static bool Holds(DType dtype) => dtype is DType.Q8_0 or DType.Q4_0;

    /// <summary>Bytes of one group block (8 rows × 32 values): scales and quants.</summary>
    public static int GroupBlockBytes(DType dtype) => ScaleBytes + (dtype == DType.Q8_0 ? GroupRows * DTypeInfo.Q8BlockSize : GroupRows * DTypeInfo.Q8BlockSize / 2);

    /// <summary>Bytes of one group of 8 rows of <paramref name="cols"/> values.</summary>
    public static long GroupBytes(DType dtype, int cols) => (long)(cols / DTypeInfo.Q8BlockSize) * GroupBlockBytes(dtype);

    /// <summary>Bytes of a packed [rows, cols] matrix.</summary>
    public static long ByteSize(DType dtype, int rows, int cols) => (long)((rows + GroupRows - 1) / GroupRows) * GroupBytes(dtype, cols);

    /// <summary>Packs a [rows, cols] matrix of GGUF Q8_0 or Q4_0 blocks (cols a multiple of 32) into a new buffer.</summary>
    public static NativeBuffer Pack(DType dtype, byte* source, int rows, int cols)
    {
        if (!Holds(dtype)) throw new ArgumentException($"the packed layout holds q8_0 and q4_0, not {dtype.Name()}");
        if (cols % DTypeInfo.Q8BlockSize != 0) throw new ArgumentException($"{dtype.Name()} rows must be a multiple of {DTypeInfo.Q8BlockSize} long, got {cols}");
        int blocks = cols / DTypeInfo.Q8BlockSize;
        long rowBytes = dtype.ByteSize(cols);
        int blockBytes = dtype == DType.Q8_0 ? Q8Format.BlockBytes : Q4Format.BlockBytes;
        int groupBlockBytes = GroupBlockBytes(dtype);
        int groups = (rows + GroupRows - 1) / GroupRows;
        var buffer = new NativeBuffer(ByteSize(dtype, rows, cols));
        byte* dst = (byte*)buffer.Pointer;
        for (int g = 0; g < groups; g++)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* gb = dst + ((long)g * blocks + b) * groupBlockBytes;
                float* scales = (float*)gb;
                byte* quants = gb + ScaleBytes;
                for (int r = 0; r < GroupRows; r++)
                {
                    int row = g * GroupRows + r;
                    if (row >= rows)
                    {
                        // Padding rows are zero weights: scale 0 and the quant that means 0.
                        scales[r] = 0;
                        for (int k = 0; k < (dtype == DType.Q8_0 ? 8 : 4); k++)
                            for (int i = 0; i < 4; i++) quants[k * 32 + r * 4 + i] = dtype == DType.Q8_0 ? (byte)128 : (byte)0x88;
                        continue;
                    }
                    byte* block = source + row * rowBytes + (long)b * blockBytes;
                    scales[r] = FloatConversion.F16ToFloat(*(ushort*)block);
                    if (dtype == DType.Q8_0)
                    {
                        sbyte* q = (sbyte*)(block + 2);
                        for (int k = 0; k < 8; k++)
                            for (int i = 0; i < 4; i++) quants[k * 32 + r * 4 + i] = (byte)(q[4 * k + i] + 128);
                    }
                    else
                    {
                        for (int p = 0; p < 4; p++)
                            for (int i = 0; i < 4; i++)
                                quants[p * 32 + r * 4 + i] = (byte)(Q4Nibble(block, 8 * p + i) | (Q4Nibble(block, 8 * p + 4 + i) << 4));
                    }
                }
            }
        }
        return buffer;
    }

    /// <summary>Row <paramref name="row"/> of a packed [rows, cols] matrix widened to floats (exactly the values
    /// <see cref="Q8Format.DequantizeRow"/> / <see cref="Q4Format.DequantizeRow"/> give for the original blocks).</summary>
    public static void DequantizeRow(DType dtype, byte* packed, int row, int cols, Span<float> destination)
    {
        int blocks = cols / DTypeInfo.Q8BlockSize;
        int groupBlockBytes = GroupBlockBytes(dtype);
        int r = row % GroupRows;
        byte* group = packed + (long)(row / GroupRows) * blocks * groupBlockBytes;
        for (int b = 0; b < blocks; b++)
        {
            byte* gb = group + (long)b * groupBlockBytes;
            float d = ((float*)gb)[r];
            byte* quants = gb + ScaleBytes;
            Span<float> dst = destination.Slice(b * DTypeInfo.Q8BlockSize, DTypeInfo.Q8BlockSize);
            if (dtype == DType.Q8_0)
            {
                for (int k = 0; k < 8; k++)
                    for (int i = 0; i < 4; i++) dst[4 * k + i] = d * (quants[k * 32 + r * 4 + i] - 128);
            }
            else
            {
                for (int p = 0; p < 4; p++)
                {
                    for (int i = 0; i < 4; i++)
                    {
                        byte v = quants[p * 32 + r * 4 + i];
                        dst[8 * p + i] = d * ((v & 0x0F) - 8);
                        dst[8 * p + 4 + i] = d * ((v >> 4) - 8);
                    }
                }
            }
        }
    }

    /// <summary>The nibble of value <paramref name="j"/> (0..31) of a GGUF Q4_0 block.</summary>
    private static int Q4Nibble(byte* block, int j) => j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4;
}
