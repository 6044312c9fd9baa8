using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>The CPU backend's row-interleaved ("packed") copy of a Q8_0 or Q4_0 matrix, made once at upload so that
/// one 32-byte load feeds one vpdpbusd for 8 output rows at once.</summary>
/// <remarks>
/// Rows are taken in groups of <see cref="GroupRows"/> (the last group padded with zero rows). A group holds the quants
/// of its 32-value blocks one after another, then the blocks' scales (8 F16 values per block, one per row), padded to
/// 64 bytes so that every group starts on a cache line and every 32-byte load is aligned. The scales stay F16, widened
/// in registers (one shift, mask and multiply per 8 rows and block): decoding streams every weight byte once, so
/// widening them here would cost the bytes the kernels save. Per block:
/// <list type="bullet">
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

    /// <summary>Bytes of a group block's scales (8 F16).</summary>
    public const int ScaleBytes = GroupRows * sizeof(ushort);

    /// <summary>True for the dtypes this layout holds (Q8_0, Q4_0).</summary>
    public static bool Holds(DType dtype) => dtype is DType.Q8_0 or DType.Q4_0;

    /// <summary>Bytes of one block's quants for the 8 rows of a group.</summary>
    public static int QuantBytes(DType dtype) => dtype == DType.Q8_0 ? GroupRows * DTypeInfo.Q8BlockSize : GroupRows * DTypeInfo.Q8BlockSize / 2;

    /// <summary>Bytes of one group of 8 rows of <paramref name="cols"/> values: quants, scales, padding to 64.</summary>
    public static long GroupBytes(DType dtype, int cols) => ((long)(cols / DTypeInfo.Q8BlockSize) * (QuantBytes(dtype) + ScaleBytes) + 63) & ~63L;

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
        int quantBytes = QuantBytes(dtype);
        long groupBytes = GroupBytes(dtype, cols);
        int groups = (rows + GroupRows - 1) / GroupRows;
        var buffer = new NativeBuffer(ByteSize(dtype, rows, cols));
        byte* dst = (byte*)buffer.Pointer;
        for (int g = 0; g < groups; g++)
        {
            byte* group = dst + g * groupBytes;
            for (int b = 0; b < blocks; b++)
            {
                ushort* scales = (ushort*)(group + (long)blocks * quantBytes) + b * GroupRows;
                byte* quants = group + (long)b * quantBytes;
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
                    scales[r] = *(ushort*)block;
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
        int quantBytes = QuantBytes(dtype);
        int r = row % GroupRows;
        byte* group = packed + row / GroupRows * GroupBytes(dtype, cols);
        for (int b = 0; b < blocks; b++)
        {
            float d = FloatConversion.F16ToFloat(Scale(group, blocks, quantBytes, b, r));
            byte* quants = group + (long)b * quantBytes;
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

    /// <summary>Row <paramref name="r"/>'s F16 scale of block <paramref name="b"/> in a group.</summary>
    public static ushort Scale(byte* group, int blocks, int quantBytes, int b, int r) =>
        ((ushort*)(group + (long)blocks * quantBytes))[b * GroupRows + r];

    /// <summary>The nibble of value <paramref name="j"/> (0..31) of a GGUF Q4_0 block.</summary>
    private static int Q4Nibble(byte* block, int j) => j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4;
}
