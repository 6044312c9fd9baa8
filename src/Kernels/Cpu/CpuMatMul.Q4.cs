using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>The Q4_0 kernels: weights stay 4-bit in memory and are unpacked to bytes in registers.</summary>
/// <remarks>
/// Activations are quantized to int8 per 32-block exactly as for Q8_0. A Q4_0 weight is d · (nibble − 8) with the
/// nibble in 0..15, which is already the unsigned operand vpdpbusd / vpmaddubsw want, so a block's dot is
/// Σ nibble · x − 8 · Σ x: the second term depends on the token only and is computed once per block for the 4 rows
/// of a tile, and VNNI folds it into the accumulate (vpdpbusd starting from −8 · Σ x). With AVX-512 (32 vector
/// registers) a tile is 4 weight rows × 4 tokens; with AVX2 alone (16 registers) 4 rows × 2 tokens, and the
/// forced AVX2 path also drops VNNI, as on a Zen 3 or Haswell.
/// </remarks>
internal sealed unsafe partial class CpuMatMul
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowsQ4<TD>(int start, int end, bool fourTokens) where TD : struct, IInt8Dot
    {
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        int outCols = _out;
        nint rowBytes = (nint)_rowBytes;
        // Read once per call and passed down, for the reason RowsQ8 gives.
        float* half = HalfTable.Values;
        sbyte* qx = _qx;
        float* dx = _dx;
        int o = start;
        for (; o + 4 <= end; o += 4)
        {
            byte* w = _w + o * _rowBytes;
            float* y = _y + o;
            int t = 0;
            if (fourTokens)
            {
                for (; t + 4 <= _rows; t += 4) TileQ4<Four, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
                if (_rows - t == 3) { TileQ4<Three, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half); continue; }
            }
            for (; t + 2 <= _rows; t += 2) TileQ4<Two, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
            if (t < _rows) TileQ4<One, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
        }
        for (; o < end; o++)
        {
            byte* w = _w + o * _rowBytes;
            for (int t = 0; t < _rows; t++)
                _y[(long)t * outCols + o] = DotQ4<TD>(w, qx + (long)t * n, dx + (long)t * blocks, blocks, half);
        }
    }

    /// <summary>The 32 nibbles of a Q4_0 block as bytes 0..15 in weight order (low nibbles: weights 0..15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* block, Vector256<byte> low)
    {
        Vector128<byte> raw = Vector128.Load(block + 2);
        return Vector256.Create(raw, (raw.AsUInt16() >> 4).AsByte()) & low;
    }

    /// <summary>−8 · Σ x per 4-byte group of a quantized activation block: the offset of the nibbles, as a starting accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NibbleOffset<TD>(Vector256<sbyte> x, Vector256<byte> eight) where TD : struct, IInt8Dot =>
        Vector256<int>.Zero - TD.Dot(eight, x);

    /// <summary>4 Q4_0 weight rows × T quantized token rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileQ4<TT, TD>(byte* w, nint rowBytes, sbyte* qx, float* dx, int blocks, float* y, int yStride, float* half)
        where TT : struct, ITokenCount where TD : struct, IInt8Dot
    {
        int T = TT.Count;
        int n = blocks * DTypeInfo.Q8BlockSize;
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<byte> eight = Vector256.Create((byte)8);
        // Rows of 18-byte blocks are too short for the hardware prefetcher: fetch the next 4-row block while this one is used.
        byte* next = w + 4 * rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            nint off = b * Q4Format.BlockBytes;
            byte* ahead = next + 4 * off;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Vector256<sbyte> x0 = Vector256.Load(qx + b * 32);
            Vector256<sbyte> x1 = T > 1 ? Vector256.Load(qx + n + b * 32) : default;
            Vector256<sbyte> x2 = T > 2 ? Vector256.Load(qx + 2 * n + b * 32) : default;
            Vector256<sbyte> x3 = T > 3 ? Vector256.Load(qx + 3 * n + b * 32) : default;
            Vector256<int> c0 = NibbleOffset<TD>(x0, eight);
            Vector256<int> c1 = T > 1 ? NibbleOffset<TD>(x1, eight) : default;
            Vector256<int> c2 = T > 2 ? NibbleOffset<TD>(x2, eight) : default;
            Vector256<int> c3 = T > 3 ? NibbleOffset<TD>(x3, eight) : default;
            Vector256<float> d0 = Vector256.Create(dx[b]);
            Vector256<float> d1 = T > 1 ? Vector256.Create(dx[blocks + b]) : default;
            Vector256<float> d2 = T > 2 ? Vector256.Create(dx[2 * blocks + b]) : default;
            Vector256<float> d3 = T > 3 ? Vector256.Create(dx[3 * blocks + b]) : default;

            {
                byte* block = w0 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<byte> q = Nibbles(block, low);
                a00 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c0, q, x0)) * d0, dw, a00);
                if (T > 1) a01 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c1, q, x1)) * d1, dw, a01);
                if (T > 2) a02 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c2, q, x2)) * d2, dw, a02);
                if (T > 3) a03 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c3, q, x3)) * d3, dw, a03);
            }
            {
                byte* block = w1 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<byte> q = Nibbles(block, low);
                a10 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c0, q, x0)) * d0, dw, a10);
                if (T > 1) a11 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c1, q, x1)) * d1, dw, a11);
                if (T > 2) a12 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c2, q, x2)) * d2, dw, a12);
                if (T > 3) a13 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c3, q, x3)) * d3, dw, a13);
            }
            {
                byte* block = w2 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<byte> q = Nibbles(block, low);
                a20 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c0, q, x0)) * d0, dw, a20);
                if (T > 1) a21 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c1, q, x1)) * d1, dw, a21);
                if (T > 2) a22 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c2, q, x2)) * d2, dw, a22);
                if (T > 3) a23 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c3, q, x3)) * d3, dw, a23);
            }
            {
                byte* block = w3 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<byte> q = Nibbles(block, low);
                a30 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c0, q, x0)) * d0, dw, a30);
                if (T > 1) a31 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c1, q, x1)) * d1, dw, a31);
                if (T > 2) a32 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c2, q, x2)) * d2, dw, a32);
                if (T > 3) a33 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.DotAdd(c3, q, x3)) * d3, dw, a33);
            }
        }
        Sum4(a00, a10, a20, a30).Store(y);
        if (T > 1) Sum4(a01, a11, a21, a31).Store(y + yStride);
        if (T > 2) Sum4(a02, a12, a22, a32).Store(y + 2 * yStride);
        if (T > 3) Sum4(a03, a13, a23, a33).Store(y + 3 * yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotQ4<TD>(byte* w, sbyte* qx, float* dx, int blocks, float* half) where TD : struct, IInt8Dot
    {
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<byte> eight = Vector256.Create((byte)8);
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = w + b * Q4Format.BlockBytes;
            Vector256<sbyte> x = Vector256.Load(qx + b * 32);
            Vector256<int> p = TD.DotAdd(NibbleOffset<TD>(x, eight), Nibbles(block, low), x);
            acc = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(half[*(ushort*)block] * dx[b]), acc);
        }
        return Vector256.Sum(acc);
    }

    private void RowsQ4Scalar(int start, int end)
    {
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        for (int o = start; o < end; o++)
        {
            byte* w = _w + o * _rowBytes;
            for (int t = 0; t < _rows; t++)
                _y[(long)t * _out + o] = DotQ4Scalar(w, _qx + (long)t * n, _dx + (long)t * blocks, blocks);
        }
    }

    /// <summary>Σ_blocks d_w · d_x · Σ (nibble − 8) · q_x for one Q4_0 weight row and one quantized activation row.</summary>
    internal static float DotQ4Scalar(byte* w, sbyte* qx, float* dx, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = w + b * Q4Format.BlockBytes;
            sbyte* x = qx + b * 32;
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += ((block[2 + j] & 0x0F) - 8) * x[j] + ((block[2 + j] >> 4) - 8) * x[j + 16];
            sum += FloatConversion.F16ToFloat(*(ushort*)block) * dx[b] * s;
        }
        return sum;
    }
}
