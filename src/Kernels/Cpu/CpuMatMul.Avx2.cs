using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecCore.Kernels.Cpu;

/// <summary>The float-weight (F32/BF16/F16) kernels for CPUs with AVX2 and FMA but no AVX-512.</summary>
/// <remarks>
/// AVX2 has 16 vector registers, not 32, so a register tile holds 8 accumulators: 4 weight rows × 2 token
/// rows for one or two tokens, 2 weight rows × 4 token rows for batches of three or more (a verify-3/4 then
/// passes over each row once). The 4 rows of a block stay in L1 while every token group passes over them.
/// </remarks>
internal sealed unsafe partial class CpuMatMul
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowsAvx2<TL>(int start, int end) where TL : struct, IWeightLoader
    {
        int n = _in;
        int outCols = _out;
        nint rowBytes = (nint)_rowBytes;
        // Widening F16 costs more than the FMAs it feeds, so for 3+ tokens each 4-row block is widened
        // once into an L1-sized F32 scratch and every token pair reads that instead.
        bool widenOnce = typeof(TL) != typeof(F32Loader) && _rows >= 3;
        float[] scratch = !widenOnce ? [] : t_rowScratch is { } s && s.Length >= 4 * n ? s : (t_rowScratch = new float[4 * n]);
        fixed (float* block = scratch)
        {
            int o = start;
            for (; o + 4 <= end; o += 4)
            {
                byte* w = _w + o * _rowBytes;
                nint stride = rowBytes;
                if (widenOnce)
                {
                    for (int r = 0; r < 4; r++) WidenRow<TL>(w + r * rowBytes, block + r * n, n);
                    w = (byte*)block;
                    stride = n * sizeof(float);
                }
                if (widenOnce) TokenTilesAvx2<F32Loader>(w, stride, o);
                else TokenTilesAvx2<TL>(w, stride, o);
            }
            for (; o < end; o++)
            {
                byte* w = _w + o * _rowBytes;
                for (int t = 0; t < _rows; t++) _y[(long)t * outCols + o] = DotAvx2<TL>(w, _x + (long)t * n, n);
            }
        }
    }

    /// <summary>Every token row times the 4 weight rows at <paramref name="w"/> (outputs o..o+3). Three or more tokens
    /// go through 2-row × 4-token tiles, so a verification batch of 3-4 tokens passes over the rows once, not twice
    /// as 4 × 2 tiles would; one or two tokens use the 4-row tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TokenTilesAvx2<TL>(byte* w, nint stride, int o) where TL : struct, IWeightLoader
    {
        int n = _in;
        int outCols = _out;
        float* y = _y + o;
        int t = 0;
        if (_rows >= 3)
        {
            for (; t + 4 <= _rows; t += 4)
            {
                TallTileAvx2<TL, Four>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols);
                TallTileAvx2<TL, Four>(w + 2 * stride, stride, _x + (long)t * n, n, y + (long)t * outCols + 2, outCols);
            }
            if (_rows - t == 3)
            {
                TallTileAvx2<TL, Three>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols);
                TallTileAvx2<TL, Three>(w + 2 * stride, stride, _x + (long)t * n, n, y + (long)t * outCols + 2, outCols);
                return;
            }
        }
        for (; t + 2 <= _rows; t += 2) TileAvx2<TL, Two>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols);
        if (t < _rows) TileAvx2<TL, One>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols);
    }

    /// <summary>2 weight rows × T ≤ 4 token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i]. Needs n ≥ 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TallTileAvx2<TL, TT>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride)
        where TL : struct, IWeightLoader where TT : struct, ITokenCount
    {
        int T = TT.Count;
        byte* w0 = w, w1 = w + rowBytes;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n;
        Vector256<float> a00 = default, a10 = default, a01 = default, a11 = default;
        Vector256<float> a02 = default, a12 = default, a03 = default, a13 = default;
        nint i = 0;
        nint full = n & ~7;
        // The same two rows of the next 4-row block, one cache line per row every 64 bytes.
        byte* next = w + 4 * rowBytes;
        nint lineElements = 64 / TL.ElementBytes;
        for (; i < full; i += 8)
        {
            if ((i & (lineElements - 1)) == 0)
            {
                nint at = i * TL.ElementBytes;
                Sse.Prefetch0(next + at);
                Sse.Prefetch0(next + rowBytes + at);
            }
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            u = Vector256.Load(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            u = Vector256.Load(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02); a12 = Fma.MultiplyAdd(v1, u, a12);
            if (T > 3)
            {
                u = Vector256.Load(x3 + i);
                a03 = Fma.MultiplyAdd(v0, u, a03); a13 = Fma.MultiplyAdd(v1, u, a13);
            }
        }
        if (full != n)
        {
            i = n - 8;
            Vector256<float> mask = TailMask8(n);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i) & mask;
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            u = Vector256.Load(x1 + i) & mask;
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            u = Vector256.Load(x2 + i) & mask;
            a02 = Fma.MultiplyAdd(v0, u, a02); a12 = Fma.MultiplyAdd(v1, u, a12);
            if (T > 3)
            {
                u = Vector256.Load(x3 + i) & mask;
                a03 = Fma.MultiplyAdd(v0, u, a03); a13 = Fma.MultiplyAdd(v1, u, a13);
            }
        }
        // [r0·t0, r1·t0, r0·t1, r1·t1]: two outputs per token row.
        Vector128<double> s01 = Sum4(a00, a10, a01, a11).AsDouble();
        Sse2.StoreLow((double*)y, s01);
        Sse2.StoreHigh((double*)(y + yStride), s01);
        if (T > 3)
        {
            Vector128<double> s23 = Sum4(a02, a12, a03, a13).AsDouble();
            Sse2.StoreLow((double*)(y + 2 * yStride), s23);
            Sse2.StoreHigh((double*)(y + 3 * yStride), s23);
        }
        else
        {
            Vector128<double> s2 = Sum4(a02, a12, a02, a12).AsDouble();
            Sse2.StoreLow((double*)(y + 2 * yStride), s2);
        }
    }

    /// <summary>destination[i] = row[i] widened to F32, i &lt; n (n ≥ 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenRow<TL>(byte* row, float* destination, int n) where TL : struct, IWeightLoader
    {
        nint i = 0;
        for (; i + 8 <= n; i += 8) TL.Load8(row, i).Store(destination + i);
        if (i != n) TL.Load8(row, n - 8).Store(destination + n - 8);
    }

    /// <summary>Lanes [8 - rem, 8) set: the part of the last, overlapping vector not yet counted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TailMask8(int n) =>
        Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(8 - (n & 7))).AsSingle();

    /// <summary>4 weight rows × T ≤ 2 token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i]. Needs n ≥ 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileAvx2<TL, TT>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride)
        where TL : struct, IWeightLoader where TT : struct, ITokenCount
    {
        int T = TT.Count;
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        float* x0 = x, x1 = x + n;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        nint i = 0;
        nint full = n & ~7;
        // As in the AVX-512 tile: fetch the next 4-row block one cache line per row every 64 bytes.
        byte* next = w + 4 * rowBytes;
        nint lineElements = 64 / TL.ElementBytes;
        for (; i < full; i += 8)
        {
            if ((i & (lineElements - 1)) == 0)
            {
                nint at = i * TL.ElementBytes;
                Sse.Prefetch0(next + at);
                Sse.Prefetch0(next + rowBytes + at);
                Sse.Prefetch0(next + 2 * rowBytes + at);
                Sse.Prefetch0(next + 3 * rowBytes + at);
            }
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i), v2 = TL.Load8(w2, i), v3 = TL.Load8(w3, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20); a30 = Fma.MultiplyAdd(v3, u, a30);
            if (T > 1)
            {
                u = Vector256.Load(x1 + i);
                a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
                a21 = Fma.MultiplyAdd(v2, u, a21); a31 = Fma.MultiplyAdd(v3, u, a31);
            }
        }
        if (full != n)
        {
            // Overlapping last vector; x is masked so the lanes already counted add zero.
            i = n - 8;
            Vector256<float> mask = TailMask8(n);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i), v2 = TL.Load8(w2, i), v3 = TL.Load8(w3, i);
            Vector256<float> u = Vector256.Load(x0 + i) & mask;
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20); a30 = Fma.MultiplyAdd(v3, u, a30);
            if (T > 1)
            {
                u = Vector256.Load(x1 + i) & mask;
                a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
                a21 = Fma.MultiplyAdd(v2, u, a21); a31 = Fma.MultiplyAdd(v3, u, a31);
            }
        }
        Sum4(a00, a10, a20, a30).Store(y);
        if (T > 1) Sum4(a01, a11, a21, a31).Store(y + yStride);
    }

    /// <summary>One weight row · one token row. Needs n ≥ 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotAvx2<TL>(byte* w, float* x, int n) where TL : struct, IWeightLoader
    {
        Vector256<float> acc = default;
        nint i = 0;
        nint full = n & ~7;
        for (; i < full; i += 8) acc = Fma.MultiplyAdd(TL.Load8(w, i), Vector256.Load(x + i), acc);
        if (full != n) acc = Fma.MultiplyAdd(TL.Load8(w, n - 8), Vector256.Load(x + n - 8) & TailMask8(n), acc);
        return Vector256.Sum(acc);
    }
}
