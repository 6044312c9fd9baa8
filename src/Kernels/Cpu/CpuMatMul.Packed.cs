using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>The Q8_0 / Q4_0 kernels on the row-interleaved layout (<see cref="PackedQuantLayout"/>).</summary>
/// <remarks>
/// Per token and 4-value step, the token's 4 int8 activations are broadcast to all 8 lanes and multiplied with one
/// 32-byte load of 8 rows' weights (vpdpbusd): after a block's 8 steps each int32 lane holds its row's exact block dot,
/// with no horizontal reduction and no per-block sign trick; one convert and one FMA with the 8 rows' scales times the
/// token's scale (widened from F16 in registers, see <see cref="WidenScales"/>) then add it to the float sums. vpdpbusd multiplies unsigned by signed bytes, so the weights are the
/// unsigned side: Q8_0 weights are stored as w + 128 and Q4_0 nibbles are 0..15 already; the offset this adds is the
/// same for every row, offset · Σ x over the block, so it is computed once per token and block when the activations
/// are quantized (the activations change every call, the weights never: storing them offset costs nothing per call)
/// and the int32 accumulators start from its negative. With AVX2 but no VNNI, vpmaddubsw's int16 pairs would overflow
/// on w + 128, so Q8_0 undoes the offset in registers and uses |w| · sign(x, w) instead (the offset is then zero);
/// Q4_0's nibbles are small enough for vpmaddubsw as they are.
/// Tiles: 2 groups (16 rows) × 4 tokens with AVX-512's 32 registers, × 2 tokens with AVX2's 16.
/// </remarks>
internal sealed unsafe partial class CpuMatMul
{
    private bool _packed;
    private bool _packedVnni;
    private long _groupBytes;

    // −offset · Σ x per quantized activation block: [rows, in / 32].
    private int* _xBias;
    private long _xBiasCapacity;

    /// <summary>Sets up a matmul on a packed weight: picks the int8 path and computes the activation offsets
    /// (after <see cref="QuantizeActivations"/>).</summary>
    private void PreparePacked()
    {
        _groupBytes = PackedQuantLayout.GroupBytes(_dtype, _in);
        _packedVnni = s_vnni && !_forceAvx2;
        int blocks = _in / DTypeInfo.Q8BlockSize;
        long count = (long)_rows * blocks;
        if (count > _xBiasCapacity)
        {
            NativeMemory.AlignedFree(_xBias);
            _xBiasCapacity = Math.Max(count, 256);
            _xBias = (int*)NativeMemory.AlignedAlloc((nuint)(_xBiasCapacity * sizeof(int)), 64);
        }
        int offset = _dtype == DType.Q4_0 ? 8 : _packedVnni && _simd ? 128 : 0;
        bool avx2 = !_forceScalar && Avx2.IsSupported;
        for (long i = 0; i < count; i++)
        {
            sbyte* x = _qx + i * DTypeInfo.Q8BlockSize;
            int sum;
            if (avx2)
            {
                // Σ (x + 128) by vpsadbw against zero, four partial sums of 8 bytes each.
                Vector256<byte> u = (Vector256.Load(x) ^ Vector256.Create((sbyte)-128)).AsByte();
                Vector256<ulong> s = Avx2.SumAbsoluteDifferences(u, Vector256<byte>.Zero).AsUInt64();
                sum = (int)(s[0] + s[1] + s[2] + s[3]) - 32 * 128;
            }
            else
            {
                sum = 0;
                for (int j = 0; j < DTypeInfo.Q8BlockSize; j++) sum += x[j];
            }
            _xBias[i] = -offset * sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowsPacked(int start, int end)
    {
        if (!_simd)
        {
            RowsPackedScalar(start, end);
            return;
        }
        bool fourTokens = s_q8FourTokens && !_forceAvx2;
        if (_dtype == DType.Q8_0)
        {
            if (_packedVnni) RowsPacked<Q8Steps, VnniDot>(start, end, fourTokens);
            else RowsPacked<Q8Steps, SignedAvx2Dot>(start, end, fourTokens);
        }
        else
        {
            if (_packedVnni) RowsPacked<Q4Steps, VnniDot>(start, end, fourTokens);
            else RowsPacked<Q4Steps, Avx2Dot>(start, end, fourTokens);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowsPacked<TW, TD>(int start, int end, bool fourTokens) where TW : struct, IPackedSteps where TD : struct, IInt8Dot
    {
        // Chunks start on a group (Split rounds to 8 rows); only the matrix's last group may be partial.
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        int outCols = _out;
        nint groupBytes = (nint)_groupBytes;
        sbyte* qx = _qx;
        float* dx = _dx;
        int* bias = _xBias;
        int rows = _rows;
        const int G = PackedQuantLayout.GroupRows;
        int o = start;
        // The decoding tile has 8 int and 4 float accumulators besides its operands: AVX-512's 32 registers only.
        if (rows == 1 && fourTokens)
        {
            for (; o + 4 * G <= end; o += 4 * G)
                PackedTileOneToken<TW, TD>(_w + (long)(o / G) * groupBytes, groupBytes, qx, dx, bias, blocks, _y + o);
        }
        while (o < end)
        {
            byte* w = _w + (long)(o / G) * groupBytes;
            bool two = end - o > G;
            int valid = Math.Min(end - o, two ? 2 * G : G);
            float* y = _y + o;
            int t = 0;
            // Token groups take turns at prefetching the next tile's blocks (see PackedTile); g counts them.
            int groups = fourTokens ? (rows + 3) / 4 : (rows + 1) / 2, g = 0;
            if (two)
            {
                if (fourTokens)
                {
                    for (; t + 4 <= rows; t += 4)
                        PackedTile<TW, TD, Four, TwoGroups>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups);
                    if (rows - t == 3)
                    {
                        PackedTile<TW, TD, Three, TwoGroups>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups);
                        t = rows;
                    }
                }
                for (; t + 2 <= rows; t += 2)
                    PackedTile<TW, TD, Two, TwoGroups>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups);
                if (t < rows)
                    PackedTile<TW, TD, One, TwoGroups>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups);
            }
            else
            {
                for (; t + 4 <= rows; t += 4)
                    PackedTile<TW, TD, Four, OneGroup>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups);
                switch (rows - t)
                {
                    case 3: PackedTile<TW, TD, Three, OneGroup>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups); break;
                    case 2: PackedTile<TW, TD, Two, OneGroup>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups); break;
                    case 1: PackedTile<TW, TD, One, OneGroup>(w, groupBytes, qx + (long)t * n, dx + (long)t * blocks, bias + (long)t * blocks, blocks, y + (long)t * outCols, outCols, valid, g++, groups); break;
                }
            }
            o += valid;
        }
    }

    /// <summary>One or two groups of 8 packed rows × T quantized token rows; <paramref name="valid"/> of the tile's
    /// rows are real (the rest is the last group's padding and is not stored). Token group <paramref name="phase"/> of
    /// <paramref name="groups"/> over these rows prefetches its share of the next tile's blocks, one per groups blocks,
    /// so that the next tile streams in evenly while all of them compute (when only the first group fetched,
    /// memory idled through the others).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackedTile<TW, TD, TT, TG>(byte* w, nint groupBytes, sbyte* qx, float* dx, int* bias, int blocks,
        float* y, int yStride, int valid, int phase, int groups)
        where TW : struct, IPackedSteps where TD : struct, IInt8Dot where TT : struct, ITokenCount where TG : struct, IGroupCount
    {
        int T = TT.Count;
        bool two = TG.Two;
        bool split = T <= 2;
        int n = blocks * DTypeInfo.Q8BlockSize;
        int quantBytes = TW.QuantBytes;
        Vector256<float> f00 = default, f01 = default, f02 = default, f03 = default;
        Vector256<float> f10 = default, f11 = default, f12 = default, f13 = default;
        // The second group, the other tokens and their scales are addressed from moving pointers and fixed strides
        // (separate pointers spilled to the stack and were reloaded every step).
        byte* q0 = w;
        short* s0p = (short*)(q0 + (nint)blocks * quantBytes);
        nint xs = n, xs3 = 3 * (nint)n, ds = blocks, ds3 = 3 * (nint)blocks;
        sbyte* x0 = qx;
        float* dp = dx;
        int* bp = bias;
        // This group's share of the next tile: blocks from phase · blocks / groups on, one per groups blocks.
        nint ahead = (two ? 2 : 1) * groupBytes; // the next tile
        byte* pq = w + ahead + (nint)(phase * blocks / groups) * quantBytes;
        int turn = 0; // blocks until this token group's next prefetch
        for (int b = 0; b < blocks; b++, q0 += quantBytes, s0p += PackedQuantLayout.GroupRows, x0 += 32, dp++, bp++)
        {
            byte* q1 = q0 + groupBytes;
            Vector256<int> i00 = Vector256.Create(*bp);
            Vector256<int> i01 = T > 1 ? Vector256.Create(bp[ds]) : default;
            Vector256<int> i02 = T > 2 ? Vector256.Create(bp[2 * ds]) : default;
            Vector256<int> i03 = T > 3 ? Vector256.Create(bp[ds3]) : default;
            Vector256<int> i10 = i00, i11 = i01, i12 = i02, i13 = i03;
            // With 1-2 tokens the odd steps go to their own accumulators, so that enough dpbusd chains run at once to
            // hide its latency.
            Vector256<int> j00 = default, j01 = default, j10 = default, j11 = default;
            if (turn == 0)
            {
                for (int line = 0; line < quantBytes; line += 64)
                {
                    Sse.Prefetch0(pq + line);
                    if (two) Sse.Prefetch0(pq + groupBytes + line);
                }
                pq += quantBytes;
                turn = groups;
            }
            turn--;
            if (phase == 0 && (b & 3) == 0)
            {
                Sse.Prefetch0((byte*)s0p + ahead);
                if (two) Sse.Prefetch0((byte*)s0p + groupBytes + ahead);
            }
            for (nint pair = 0; pair < 4; pair++)
            {
                TW.Load(q0, pair, out Vector256<byte> a0, out Vector256<byte> b0);
                Vector256<byte> a1 = default, b1 = default;
                if (two) TW.Load(q1, pair, out a1, out b1);
                nint at = pair * 8;
                Vector256<sbyte> x = Broadcast(x0 + at);
                i00 = TD.DotAdd(i00, a0, x);
                if (two) i10 = TD.DotAdd(i10, a1, x);
                if (T > 1)
                {
                    x = Broadcast(x0 + xs + at);
                    i01 = TD.DotAdd(i01, a0, x);
                    if (two) i11 = TD.DotAdd(i11, a1, x);
                }
                if (T > 2)
                {
                    x = Broadcast(x0 + 2 * xs + at);
                    i02 = TD.DotAdd(i02, a0, x);
                    if (two) i12 = TD.DotAdd(i12, a1, x);
                }
                if (T > 3)
                {
                    x = Broadcast(x0 + xs3 + at);
                    i03 = TD.DotAdd(i03, a0, x);
                    if (two) i13 = TD.DotAdd(i13, a1, x);
                }
                at += 4;
                x = Broadcast(x0 + at);
                if (split)
                {
                    j00 = TD.DotAdd(j00, b0, x);
                    if (two) j10 = TD.DotAdd(j10, b1, x);
                }
                else
                {
                    i00 = TD.DotAdd(i00, b0, x);
                    if (two) i10 = TD.DotAdd(i10, b1, x);
                }
                if (T > 1)
                {
                    x = Broadcast(x0 + xs + at);
                    if (split)
                    {
                        j01 = TD.DotAdd(j01, b0, x);
                        if (two) j11 = TD.DotAdd(j11, b1, x);
                    }
                    else
                    {
                        i01 = TD.DotAdd(i01, b0, x);
                        if (two) i11 = TD.DotAdd(i11, b1, x);
                    }
                }
                if (T > 2)
                {
                    x = Broadcast(x0 + 2 * xs + at);
                    i02 = TD.DotAdd(i02, b0, x);
                    if (two) i12 = TD.DotAdd(i12, b1, x);
                }
                if (T > 3)
                {
                    x = Broadcast(x0 + xs3 + at);
                    i03 = TD.DotAdd(i03, b0, x);
                    if (two) i13 = TD.DotAdd(i13, b1, x);
                }
            }
            if (split)
            {
                i00 += j00;
                if (two) i10 += j10;
                if (T > 1)
                {
                    i01 += j01;
                    if (two) i11 += j11;
                }
            }
            Vector256<float> s0 = WidenScales(s0p);
            Vector256<float> s1 = two ? WidenScales((short*)((byte*)s0p + groupBytes)) : default;
            Vector256<float> d = Vector256.Create(*dp);
            f00 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i00), s0 * d, f00);
            if (two) f10 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i10), s1 * d, f10);
            if (T > 1)
            {
                d = Vector256.Create(dp[ds]);
                f01 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i01), s0 * d, f01);
                if (two) f11 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i11), s1 * d, f11);
            }
            if (T > 2)
            {
                d = Vector256.Create(dp[2 * ds]);
                f02 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i02), s0 * d, f02);
                if (two) f12 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i12), s1 * d, f12);
            }
            if (T > 3)
            {
                d = Vector256.Create(dp[ds3]);
                f03 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i03), s0 * d, f03);
                if (two) f13 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i13), s1 * d, f13);
            }
        }
        StoreRows(f00, f10, two, y, valid);
        if (T > 1) StoreRows(f01, f11, two, y + yStride, valid);
        if (T > 2) StoreRows(f02, f12, two, y + 2 * yStride, valid);
        if (T > 3) StoreRows(f03, f13, two, y + 3 * yStride, valid);
    }

    /// <summary>4 groups of 8 packed rows (32 outputs, all real) × one token: the decoding tile. Even and odd steps
    /// accumulate apart, so 8 dpbusd chains are in flight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackedTileOneToken<TW, TD>(byte* w, nint groupBytes, sbyte* qx, float* dx, int* bias, int blocks, float* y)
        where TW : struct, IPackedSteps where TD : struct, IInt8Dot
    {
        int quantBytes = TW.QuantBytes;
        nint scales = (nint)blocks * quantBytes;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        byte* q0 = w, q1 = w + groupBytes, q2 = w + 2 * groupBytes, q3 = w + 3 * groupBytes;
        for (int b = 0; b < blocks; b++, q0 += quantBytes, q1 += quantBytes, q2 += quantBytes, q3 += quantBytes)
        {
            sbyte* xb = qx + b * 32;
            Vector256<int> i0 = Vector256.Create(bias[b]);
            Vector256<int> i1 = i0, i2 = i0, i3 = i0;
            Vector256<int> j0 = default, j1 = default, j2 = default, j3 = default;
            // The 4 streams of a tile restart at every 4 KiB page for the hardware prefetcher: fetch the next tile's
            // block (a prefetch never faults past the end) while this one is multiplied.
            nint ahead = 4 * groupBytes;
            for (int line = 0; line < quantBytes; line += 64)
            {
                Sse.Prefetch0(q0 + ahead + line);
                Sse.Prefetch0(q1 + ahead + line);
                Sse.Prefetch0(q2 + ahead + line);
                Sse.Prefetch0(q3 + ahead + line);
            }
            if ((b & 3) == 0)
            {
                byte* sNext = q0 + ahead + scales - (nint)b * quantBytes + b * PackedQuantLayout.ScaleBytes;
                Sse.Prefetch0(sNext);
                Sse.Prefetch0(sNext + groupBytes);
                Sse.Prefetch0(sNext + 2 * groupBytes);
                Sse.Prefetch0(sNext + 3 * groupBytes);
            }
            for (nint pair = 0; pair < 4; pair++)
            {
                Vector256<sbyte> xe = Broadcast(xb + pair * 8);
                Vector256<sbyte> xo = Broadcast(xb + pair * 8 + 4);
                TW.Load(q0, pair, out Vector256<byte> a, out Vector256<byte> c);
                i0 = TD.DotAdd(i0, a, xe);
                j0 = TD.DotAdd(j0, c, xo);
                TW.Load(q1, pair, out a, out c);
                i1 = TD.DotAdd(i1, a, xe);
                j1 = TD.DotAdd(j1, c, xo);
                TW.Load(q2, pair, out a, out c);
                i2 = TD.DotAdd(i2, a, xe);
                j2 = TD.DotAdd(j2, c, xo);
                TW.Load(q3, pair, out a, out c);
                i3 = TD.DotAdd(i3, a, xe);
                j3 = TD.DotAdd(j3, c, xo);
            }
            Vector256<float> d = Vector256.Create(dx[b]);
            nint s = scales + b * PackedQuantLayout.ScaleBytes - (nint)b * quantBytes; // q* moved on by b blocks
            f0 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i0 + j0), WidenScales((short*)(q0 + s)) * d, f0);
            f1 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i1 + j1), WidenScales((short*)(q1 + s)) * d, f1);
            f2 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i2 + j2), WidenScales((short*)(q2 + s)) * d, f2);
            f3 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(i3 + j3), WidenScales((short*)(q3 + s)) * d, f3);
        }
        f0.Store(y);
        f1.Store(y + PackedQuantLayout.GroupRows);
        f2.Store(y + 2 * PackedQuantLayout.GroupRows);
        f3.Store(y + 3 * PackedQuantLayout.GroupRows);
    }

    /// <summary>8 F16 values widened exactly to F32 (finite ones: all that quantized scales are).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> WidenScales(short* halves) => SimdHalf.FiniteToSingle(Avx2.ConvertToVector256Int32(halves));

    /// <summary>The 4 int8 activations at <paramref name="x"/> in every 4-byte lane (vpbroadcastd from memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* x) => Avx2.BroadcastScalarToVector256((int*)x).AsSByte();

    /// <summary>Stores the first <paramref name="valid"/> of the tile's 8 or 16 row sums of one token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(Vector256<float> first, Vector256<float> second, bool two, float* y, int valid)
    {
        const int G = PackedQuantLayout.GroupRows;
        if (valid >= G) first.Store(y);
        else
        {
            for (int r = 0; r < valid; r++) y[r] = first.GetElement(r);
            return;
        }
        if (!two) return;
        if (valid == 2 * G) second.Store(y + G);
        else for (int r = G; r < valid; r++) y[r] = second.GetElement(r - G);
    }

    /// <summary>The portable path on the packed layout: per row and block Σ w · x in integers, then d_w · d_x · Σ, in
    /// the order <see cref="Q8Activations.DotScalar"/> uses, so it gives the same floats as on GGUF blocks.</summary>
    private void RowsPackedScalar(int start, int end)
    {
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        int quantBytes = PackedQuantLayout.QuantBytes(_dtype);
        bool q8 = _dtype == DType.Q8_0;
        for (int o = start; o < end; o++)
        {
            int r = o % PackedQuantLayout.GroupRows;
            byte* group = _w + (long)(o / PackedQuantLayout.GroupRows) * _groupBytes;
            for (int t = 0; t < _rows; t++)
            {
                sbyte* qx = _qx + (long)t * n;
                float* dx = _dx + (long)t * blocks;
                float sum = 0;
                for (int b = 0; b < blocks; b++)
                {
                    byte* quants = group + (long)b * quantBytes + r * 4;
                    sbyte* x = qx + b * 32;
                    int s = 0;
                    if (q8)
                    {
                        for (int k = 0; k < 8; k++)
                            for (int i = 0; i < 4; i++) s += (quants[k * 32 + i] - 128) * x[4 * k + i];
                    }
                    else
                    {
                        for (int p = 0; p < 4; p++)
                        {
                            for (int i = 0; i < 4; i++)
                            {
                                byte v = quants[p * 32 + i];
                                s += ((v & 0x0F) - 8) * x[8 * p + i] + ((v >> 4) - 8) * x[8 * p + 4 + i];
                            }
                        }
                    }
                    sum += FloatConversion.F16ToFloat(PackedQuantLayout.Scale(group, blocks, quantBytes, b, r)) * dx[b] * s;
                }
                _y[(long)t * _out + o] = sum;
            }
        }
    }

    private void DisposePacked()
    {
        NativeMemory.AlignedFree(_xBias);
        _xBias = null;
        _xBiasCapacity = 0;
    }
}

/// <summary>How a packed group block's quants become the 8 steps' 32-byte unsigned operands, two steps at a time.</summary>
internal unsafe interface IPackedSteps
{
    /// <summary>Bytes of one block's quants for the 8 rows of a group.</summary>
    static abstract int QuantBytes { get; }

    /// <summary>Steps 2 · <paramref name="pair"/> and 2 · <paramref name="pair"/> + 1 of the group block whose quants
    /// start at <paramref name="quants"/>.</summary>
    static abstract void Load(byte* quants, nint pair, out Vector256<byte> even, out Vector256<byte> odd);
}

/// <summary>Q8_0: two 32-byte loads of w + 128.</summary>
internal readonly unsafe struct Q8Steps : IPackedSteps
{
    public static int QuantBytes => 256;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* quants, nint pair, out Vector256<byte> even, out Vector256<byte> odd)
    {
        even = Vector256.Load(quants + pair * 64);
        odd = Vector256.Load(quants + pair * 64 + 32);
    }
}

/// <summary>Q4_0: one 32-byte load; low nibbles are the even step, high nibbles the odd one.</summary>
internal readonly unsafe struct Q4Steps : IPackedSteps
{
    public static int QuantBytes => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* quants, nint pair, out Vector256<byte> even, out Vector256<byte> odd)
    {
        Vector256<byte> v = Vector256.Load(quants + pair * 32);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        even = v & low;
        odd = (v.AsUInt16() >> 4).AsByte() & low;
    }
}

/// <summary>AVX2 without VNNI on Q8_0's w + 128 bytes: undoes the offset and multiplies |w| by sign(x, w), so that
/// vpmaddubsw's int16 pair sums cannot saturate (|w| ≤ 127, |x| ≤ 127).</summary>
internal readonly struct SignedAvx2Dot : IInt8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> absW, Vector256<sbyte> signedX) => Avx2Dot.Dot(absW, signedX);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        Vector256<sbyte> w = (u ^ Vector256.Create((byte)0x80)).AsSByte();
        return acc + Avx2Dot.Dot(Avx2.Abs(w), Avx2.Sign(s, w));
    }
}

/// <summary>Groups of 8 packed rows in one tile, known to the JIT.</summary>
internal interface IGroupCount
{
    /// <summary>True for a 16-row tile, false for 8 rows.</summary>
    static abstract bool Two { get; }
}

internal readonly struct OneGroup : IGroupCount { public static bool Two => false; }
internal readonly struct TwoGroups : IGroupCount { public static bool Two => true; }
