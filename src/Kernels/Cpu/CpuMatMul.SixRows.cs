using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecCore.Kernels.Cpu;

/// <summary>The AVX-512 float tile for long batches: 6 weight rows × 4 token rows (24 accumulators). A long batch's token
/// rows no longer fit in L1 beside the weights, and the 4 × 4 tile reloads each token vector for every 4 weight rows;
/// 6 rows cut those reloads, and the loads per multiply-add, by a third. Measured in one process against the 4 × 4
/// tile (768-wide layer matrices, 2 threads): F32 1.01× at 8 tokens, 1.02× at 16, 1.07× at 64; widened F16 0.99× at 8
/// and 16 but 1.09× at 64, BF16 0.98× throughout, hence the two thresholds.</summary>
internal sealed unsafe partial class CpuMatMul
{
    /// <summary>Fewest tokens that take the 6-row tile with F32 weights.</summary>
    internal const int SixRowBatch = 8;

    /// <summary>Fewest tokens that take the 6-row tile with F16 weights (widened once per row block).</summary>
    internal const int SixRowWidenedBatch = 32;

    /// <summary>Every token row times the 6 F32 weight rows at <paramref name="w"/> (outputs o..o+5), while the tiles
    /// prefetch the 6 rows of <paramref name="rowBytes"/> bytes at <paramref name="next"/>, <paramref name="share"/> bytes of
    /// each row per token group (see <see cref="TokenTiles{TL}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SixRowTokenTiles(byte* w, nint stride, int o, byte* next, nint rowBytes, nint share, nint pstep)
    {
        int n = _in;
        int outCols = _out;
        byte* last = next + rowBytes;
        int t = 0;
        for (; t + 4 <= _rows; t += 4, next += share)
            Tile6<Four>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, Min(next + share, last), pstep);
        switch (_rows - t)
        {
            case 3: Tile6<Three>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
            case 2: Tile6<Two>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
            case 1: Tile6<One>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
        }
    }

    /// <summary>6 F32 weight rows × T token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i], prefetching the bytes
    /// [<paramref name="pn"/>, <paramref name="pe"/>) of 6 rows <paramref name="ps"/> apart, <paramref name="pstep"/>
    /// bytes per 16 columns. Needs n ≥ 16.</summary>
    /// <remarks>Rows and tokens are addressed from two moving pointers and fixed strides: ten row pointers plus the
    /// index left too few registers, and the spilled pointers' reloads competed with the vector loads for the load
    /// ports.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6<TT>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride, byte* pn, nint ps, byte* pe, nint pstep)
        where TT : struct, ITokenCount
    {
        int T = TT.Count;
        nint rb = rowBytes, rb3 = 3 * rowBytes, rb5 = 5 * rowBytes;
        nint xb = (nint)n * sizeof(float), xb3 = 3 * xb;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        byte* pw = w;
        byte* px = (byte*)x;
        byte* end = (byte*)x + (n & ~15) * sizeof(float);
        Vector512<float> v;
        for (; px < end; px += 64, pw += 64)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 6);
            Vector512<float> u0 = Vector512.Load((float*)(px));
            Vector512<float> u1 = T > 1 ? Vector512.Load((float*)(px + xb)) : default;
            Vector512<float> u2 = T > 2 ? Vector512.Load((float*)(px + 2 * xb)) : default;
            Vector512<float> u3 = T > 3 ? Vector512.Load((float*)(px + xb3)) : default;
            v = Vector512.Load((float*)(pw));
            a00 = Vector512.FusedMultiplyAdd(v, u0, a00);
            if (T > 1) a01 = Vector512.FusedMultiplyAdd(v, u1, a01);
            if (T > 2) a02 = Vector512.FusedMultiplyAdd(v, u2, a02);
            if (T > 3) a03 = Vector512.FusedMultiplyAdd(v, u3, a03);
            v = Vector512.Load((float*)(pw + rb));
            a10 = Vector512.FusedMultiplyAdd(v, u0, a10);
            if (T > 1) a11 = Vector512.FusedMultiplyAdd(v, u1, a11);
            if (T > 2) a12 = Vector512.FusedMultiplyAdd(v, u2, a12);
            if (T > 3) a13 = Vector512.FusedMultiplyAdd(v, u3, a13);
            v = Vector512.Load((float*)(pw + 2 * rb));
            a20 = Vector512.FusedMultiplyAdd(v, u0, a20);
            if (T > 1) a21 = Vector512.FusedMultiplyAdd(v, u1, a21);
            if (T > 2) a22 = Vector512.FusedMultiplyAdd(v, u2, a22);
            if (T > 3) a23 = Vector512.FusedMultiplyAdd(v, u3, a23);
            v = Vector512.Load((float*)(pw + rb3));
            a30 = Vector512.FusedMultiplyAdd(v, u0, a30);
            if (T > 1) a31 = Vector512.FusedMultiplyAdd(v, u1, a31);
            if (T > 2) a32 = Vector512.FusedMultiplyAdd(v, u2, a32);
            if (T > 3) a33 = Vector512.FusedMultiplyAdd(v, u3, a33);
            v = Vector512.Load((float*)(pw + 4 * rb));
            a40 = Vector512.FusedMultiplyAdd(v, u0, a40);
            if (T > 1) a41 = Vector512.FusedMultiplyAdd(v, u1, a41);
            if (T > 2) a42 = Vector512.FusedMultiplyAdd(v, u2, a42);
            if (T > 3) a43 = Vector512.FusedMultiplyAdd(v, u3, a43);
            v = Vector512.Load((float*)(pw + rb5));
            a50 = Vector512.FusedMultiplyAdd(v, u0, a50);
            if (T > 1) a51 = Vector512.FusedMultiplyAdd(v, u1, a51);
            if (T > 2) a52 = Vector512.FusedMultiplyAdd(v, u2, a52);
            if (T > 3) a53 = Vector512.FusedMultiplyAdd(v, u3, a53);
        }
        if ((n & 15) != 0)
        {
            // Overlapping last vector; x is masked so the lanes already counted add zero.
            pw = w + (n - 16) * sizeof(float);
            px = (byte*)x + (n - 16) * sizeof(float);
            Vector512<float> mask = TailMask(n);
            Vector512<float> u0 = Vector512.Load((float*)(px)) & mask;
            Vector512<float> u1 = T > 1 ? Vector512.Load((float*)(px + xb)) & mask : default;
            Vector512<float> u2 = T > 2 ? Vector512.Load((float*)(px + 2 * xb)) & mask : default;
            Vector512<float> u3 = T > 3 ? Vector512.Load((float*)(px + xb3)) & mask : default;
            v = Vector512.Load((float*)(pw));
            a00 = Vector512.FusedMultiplyAdd(v, u0, a00);
            if (T > 1) a01 = Vector512.FusedMultiplyAdd(v, u1, a01);
            if (T > 2) a02 = Vector512.FusedMultiplyAdd(v, u2, a02);
            if (T > 3) a03 = Vector512.FusedMultiplyAdd(v, u3, a03);
            v = Vector512.Load((float*)(pw + rb));
            a10 = Vector512.FusedMultiplyAdd(v, u0, a10);
            if (T > 1) a11 = Vector512.FusedMultiplyAdd(v, u1, a11);
            if (T > 2) a12 = Vector512.FusedMultiplyAdd(v, u2, a12);
            if (T > 3) a13 = Vector512.FusedMultiplyAdd(v, u3, a13);
            v = Vector512.Load((float*)(pw + 2 * rb));
            a20 = Vector512.FusedMultiplyAdd(v, u0, a20);
            if (T > 1) a21 = Vector512.FusedMultiplyAdd(v, u1, a21);
            if (T > 2) a22 = Vector512.FusedMultiplyAdd(v, u2, a22);
            if (T > 3) a23 = Vector512.FusedMultiplyAdd(v, u3, a23);
            v = Vector512.Load((float*)(pw + rb3));
            a30 = Vector512.FusedMultiplyAdd(v, u0, a30);
            if (T > 1) a31 = Vector512.FusedMultiplyAdd(v, u1, a31);
            if (T > 2) a32 = Vector512.FusedMultiplyAdd(v, u2, a32);
            if (T > 3) a33 = Vector512.FusedMultiplyAdd(v, u3, a33);
            v = Vector512.Load((float*)(pw + 4 * rb));
            a40 = Vector512.FusedMultiplyAdd(v, u0, a40);
            if (T > 1) a41 = Vector512.FusedMultiplyAdd(v, u1, a41);
            if (T > 2) a42 = Vector512.FusedMultiplyAdd(v, u2, a42);
            if (T > 3) a43 = Vector512.FusedMultiplyAdd(v, u3, a43);
            v = Vector512.Load((float*)(pw + rb5));
            a50 = Vector512.FusedMultiplyAdd(v, u0, a50);
            if (T > 1) a51 = Vector512.FusedMultiplyAdd(v, u1, a51);
            if (T > 2) a52 = Vector512.FusedMultiplyAdd(v, u2, a52);
            if (T > 3) a53 = Vector512.FusedMultiplyAdd(v, u3, a53);
        }
        StoreSix(y, a00, a10, a20, a30, a40, a50);
        if (T > 1) StoreSix(y + yStride, a01, a11, a21, a31, a41, a51);
        if (T > 2) StoreSix(y + 2 * yStride, a02, a12, a22, a32, a42, a52);
        if (T > 3) StoreSix(y + 3 * yStride, a03, a13, a23, a33, a43, a53);
    }

    /// <summary>y[0..5] = the lane sums of a..f, each added in the order of the 4-row tile's reduction, so a row's
    /// result does not depend on which tile it fell in (chunk boundaries move with the thread count and the group).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreSix(float* y, Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d,
        Vector512<float> e, Vector512<float> f)
    {
        Sum4(a, b, c, d).Store(y);
        Vector128<float> ef = Sum4(e, f, e, f);
        y[4] = ef.GetElement(0);
        y[5] = ef.GetElement(1);
    }
}
