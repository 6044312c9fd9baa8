using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecCore.Kernels.Cpu;

/// <summary>The float-weight (F32/BF16/F16) kernels for CPUs with AVX2 and FMA but no AVX-512.</summary>
/// <remarks>
/// AVX2 has 16 vector registers, not 32, and Zen 3 / Haswell-class cores need 8 independent FMA chains to keep
/// both FMA ports busy (4-cycle latency), so every tile has 8-12 accumulators: 4 weight rows × 2 tokens, 2 rows ×
/// 4 tokens for batches of four or more (a verify-4 passes over each row once), and, where a tile would have
/// fewer chains, two accumulators per output over the halves of a 16-column step (4 rows × 1 token for decode,
/// 2 rows × 3 tokens for a verify-3). The 4 rows of a block stay in L1 while every token group passes over them.
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
        float[] scratch = widenOnce ? RowScratch(4 * n) : [];
        fixed (float* block = scratch)
        {
            int o = start;
            // Every row block's tiles fetch the next block's raw rows, spread over their token groups (see TokenTiles).
            nint share = PrefetchShare(rowBytes, _rows, n, out nint pstep);
            for (; o + 4 <= end; o += 4)
            {
                byte* w = _w + o * _rowBytes;
                if (widenOnce)
                {
                    for (int r = 0; r < 4; r++) WidenRow<TL>(w + r * rowBytes, block + r * n, n);
                    TokenTilesAvx2<F32Loader>((byte*)block, n * sizeof(float), o, w + 4 * rowBytes, rowBytes, share, pstep);
                }
                else TokenTilesAvx2<TL>(w, rowBytes, o, w + 4 * rowBytes, rowBytes, share, pstep);
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
    /// as 4 × 2 tiles would; one or two tokens use the 4-row tile. Meanwhile the tiles prefetch the 4 rows of
    /// <paramref name="rowBytes"/> bytes at <paramref name="next"/> (the next block's raw rows), <paramref name="share"/>
    /// bytes of each row per token group, <paramref name="pstep"/> per 16 columns (see <see cref="TokenTiles{TL}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TokenTilesAvx2<TL>(byte* w, nint stride, int o, byte* next, nint rowBytes, nint share, nint pstep) where TL : struct, IWeightLoader
    {
        int n = _in;
        int outCols = _out;
        float* y = _y + o;
        byte* last = next + rowBytes;
        nint half = (pstep + 1) >> 1; // the 8-column tiles' step
        int t = 0;
        if (_rows >= 3)
        {
            for (; t + 4 <= _rows; t += 4, next += share)
            {
                byte* end = Min(next + share, last);
                TallTileAvx2<TL>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols, next, rowBytes, end, half);
                TallTileAvx2<TL>(w + 2 * stride, stride, _x + (long)t * n, n, y + (long)t * outCols + 2, outCols, next + 2 * rowBytes, rowBytes, end + 2 * rowBytes, half);
            }
            if (_rows - t == 3)
            {
                Tall3Avx2<TL>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols, next, rowBytes, last, pstep);
                Tall3Avx2<TL>(w + 2 * stride, stride, _x + (long)t * n, n, y + (long)t * outCols + 2, outCols, next + 2 * rowBytes, rowBytes, last + 2 * rowBytes, pstep);
                return;
            }
        }
        for (; t + 2 <= _rows; t += 2, next += share)
            TileAvx2<TL>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, outCols, next, rowBytes, Min(next + share, last), half);
        if (t < _rows) Tile1Avx2<TL>(w, stride, _x + (long)t * n, n, y + (long)t * outCols, next, rowBytes, last, pstep);
    }

    /// <summary>4 weight rows × 1 token row (decode): y[r] = Σ_i w[r, i] · x[i].
    /// Prefetches the bytes [<paramref name="pn"/>, <paramref name="pe"/>) of 4 rows <paramref name="ps"/> apart,
    /// <paramref name="pstep"/> bytes per 16 columns. Needs n ≥ 8.</summary>
    /// <remarks>Four accumulators would be four FMA latency chains, half of what two FMA ports need when the
    /// rows come from cache (tiny models, and every model's L2-resident chunks), so each row gets two: one per
    /// half of a 16-column step.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1Avx2<TL>(byte* w, nint rowBytes, float* x, int n, float* y, byte* pn, nint ps, byte* pe, nint pstep) where TL : struct, IWeightLoader
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        nint i = 0;
        nint full = n & ~7;
        nint pairs = n & ~15;
        for (; i < pairs; i += 16)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 4);
            Vector256<float> u = Vector256.Load(x + i);
            a0 = Fma.MultiplyAdd(TL.Load8(w0, i), u, a0);
            a1 = Fma.MultiplyAdd(TL.Load8(w1, i), u, a1);
            a2 = Fma.MultiplyAdd(TL.Load8(w2, i), u, a2);
            a3 = Fma.MultiplyAdd(TL.Load8(w3, i), u, a3);
            u = Vector256.Load(x + i + 8);
            b0 = Fma.MultiplyAdd(TL.Load8(w0, i + 8), u, b0);
            b1 = Fma.MultiplyAdd(TL.Load8(w1, i + 8), u, b1);
            b2 = Fma.MultiplyAdd(TL.Load8(w2, i + 8), u, b2);
            b3 = Fma.MultiplyAdd(TL.Load8(w3, i + 8), u, b3);
        }
        if (i < full)
        {
            Vector256<float> u = Vector256.Load(x + i);
            a0 = Fma.MultiplyAdd(TL.Load8(w0, i), u, a0);
            a1 = Fma.MultiplyAdd(TL.Load8(w1, i), u, a1);
            a2 = Fma.MultiplyAdd(TL.Load8(w2, i), u, a2);
            a3 = Fma.MultiplyAdd(TL.Load8(w3, i), u, a3);
        }
        if (full != n)
        {
            // Overlapping last vector; x is masked so the lanes already counted add zero.
            i = n - 8;
            Vector256<float> u = Vector256.Load(x + i) & TailMask8(n);
            b0 = Fma.MultiplyAdd(TL.Load8(w0, i), u, b0);
            b1 = Fma.MultiplyAdd(TL.Load8(w1, i), u, b1);
            b2 = Fma.MultiplyAdd(TL.Load8(w2, i), u, b2);
            b3 = Fma.MultiplyAdd(TL.Load8(w3, i), u, b3);
        }
        Sum4(a0 + b0, a1 + b1, a2 + b2, a3 + b3).Store(y);
    }

    /// <summary>2 weight rows × 3 token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i].
    /// Prefetches the bytes [<paramref name="pn"/>, <paramref name="pe"/>) of 2 rows <paramref name="ps"/> apart,
    /// <paramref name="pstep"/> bytes per 16 columns. Needs n ≥ 8.</summary>
    /// <remarks>A verify-3 batch (two draft tokens and the pending one) is the common chain verification on the CPU.
    /// Six accumulators would leave the FMA ports latency-bound, so each gets a twin for the second half of a
    /// 16-column step: 12 accumulators, 2 weight vectors and 1 token vector fill AVX2's 16 registers.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tall3Avx2<TL>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride, byte* pn, nint ps, byte* pe, nint pstep) where TL : struct, IWeightLoader
    {
        byte* w0 = w, w1 = w + rowBytes;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n;
        Vector256<float> a00 = default, a10 = default, a01 = default, a11 = default, a02 = default, a12 = default;
        Vector256<float> b00 = default, b10 = default, b01 = default, b11 = default, b02 = default, b12 = default;
        nint i = 0;
        nint full = n & ~7;
        nint pairs = n & ~15;
        for (; i < pairs; i += 16)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 2);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            u = Vector256.Load(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            u = Vector256.Load(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02); a12 = Fma.MultiplyAdd(v1, u, a12);
            v0 = TL.Load8(w0, i + 8); v1 = TL.Load8(w1, i + 8);
            u = Vector256.Load(x0 + i + 8);
            b00 = Fma.MultiplyAdd(v0, u, b00); b10 = Fma.MultiplyAdd(v1, u, b10);
            u = Vector256.Load(x1 + i + 8);
            b01 = Fma.MultiplyAdd(v0, u, b01); b11 = Fma.MultiplyAdd(v1, u, b11);
            u = Vector256.Load(x2 + i + 8);
            b02 = Fma.MultiplyAdd(v0, u, b02); b12 = Fma.MultiplyAdd(v1, u, b12);
        }
        if (i < full)
        {
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            u = Vector256.Load(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            u = Vector256.Load(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02); a12 = Fma.MultiplyAdd(v1, u, a12);
        }
        if (full != n)
        {
            i = n - 8;
            Vector256<float> mask = TailMask8(n);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i) & mask;
            b00 = Fma.MultiplyAdd(v0, u, b00); b10 = Fma.MultiplyAdd(v1, u, b10);
            u = Vector256.Load(x1 + i) & mask;
            b01 = Fma.MultiplyAdd(v0, u, b01); b11 = Fma.MultiplyAdd(v1, u, b11);
            u = Vector256.Load(x2 + i) & mask;
            b02 = Fma.MultiplyAdd(v0, u, b02); b12 = Fma.MultiplyAdd(v1, u, b12);
        }
        // [r0·t0, r1·t0, r0·t1, r1·t1], then [r0·t2, r1·t2]: two outputs per token row.
        Vector128<double> s01 = Sum4(a00 + b00, a10 + b10, a01 + b01, a11 + b11).AsDouble();
        Sse2.StoreLow((double*)y, s01);
        Sse2.StoreHigh((double*)(y + yStride), s01);
        Vector256<float> c02 = a02 + b02, c12 = a12 + b12;
        Vector128<double> s2 = Sum4(c02, c12, c02, c12).AsDouble();
        Sse2.StoreLow((double*)(y + 2 * yStride), s2);
    }

    /// <summary>2 weight rows × 4 token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i].
    /// Prefetches the bytes [<paramref name="pn"/>, <paramref name="pe"/>) of 2 rows <paramref name="ps"/> apart,
    /// <paramref name="pstep"/> bytes per 8 columns. Needs n ≥ 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TallTileAvx2<TL>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride, byte* pn, nint ps, byte* pe, nint pstep) where TL : struct, IWeightLoader
    {
        byte* w0 = w, w1 = w + rowBytes;
        float* x0 = x, x1 = x + n, x2 = x + 2 * n, x3 = x + 3 * n;
        Vector256<float> a00 = default, a10 = default, a01 = default, a11 = default;
        Vector256<float> a02 = default, a12 = default, a03 = default, a13 = default;
        nint i = 0;
        nint full = n & ~7;
        for (; i < full; i += 8)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 2);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            u = Vector256.Load(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            u = Vector256.Load(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02); a12 = Fma.MultiplyAdd(v1, u, a12);
            u = Vector256.Load(x3 + i);
            a03 = Fma.MultiplyAdd(v0, u, a03); a13 = Fma.MultiplyAdd(v1, u, a13);
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
            u = Vector256.Load(x3 + i) & mask;
            a03 = Fma.MultiplyAdd(v0, u, a03); a13 = Fma.MultiplyAdd(v1, u, a13);
        }
        // [r0·t0, r1·t0, r0·t1, r1·t1]: two outputs per token row.
        Vector128<double> s01 = Sum4(a00, a10, a01, a11).AsDouble();
        Sse2.StoreLow((double*)y, s01);
        Sse2.StoreHigh((double*)(y + yStride), s01);
        Vector128<double> s23 = Sum4(a02, a12, a03, a13).AsDouble();
        Sse2.StoreLow((double*)(y + 2 * yStride), s23);
        Sse2.StoreHigh((double*)(y + 3 * yStride), s23);
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

    /// <summary>4 weight rows × 2 token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i].
    /// Prefetches the bytes [<paramref name="pn"/>, <paramref name="pe"/>) of 4 rows <paramref name="ps"/> apart,
    /// <paramref name="pstep"/> bytes per 8 columns. Needs n ≥ 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileAvx2<TL>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride, byte* pn, nint ps, byte* pe, nint pstep) where TL : struct, IWeightLoader
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        float* x0 = x, x1 = x + n;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        nint i = 0;
        nint full = n & ~7;
        // As in the AVX-512 tile: fetch the next 4-row block while this one is multiplied.
        for (; i < full; i += 8)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 4);
            Vector256<float> v0 = TL.Load8(w0, i), v1 = TL.Load8(w1, i), v2 = TL.Load8(w2, i), v3 = TL.Load8(w3, i);
            Vector256<float> u = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, u, a00); a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20); a30 = Fma.MultiplyAdd(v3, u, a30);
            u = Vector256.Load(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            a21 = Fma.MultiplyAdd(v2, u, a21); a31 = Fma.MultiplyAdd(v3, u, a31);
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
            u = Vector256.Load(x1 + i) & mask;
            a01 = Fma.MultiplyAdd(v0, u, a01); a11 = Fma.MultiplyAdd(v1, u, a11);
            a21 = Fma.MultiplyAdd(v2, u, a21); a31 = Fma.MultiplyAdd(v3, u, a31);
        }
        Sum4(a00, a10, a20, a30).Store(y);
        Sum4(a01, a11, a21, a31).Store(y + yStride);
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
