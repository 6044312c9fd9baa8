using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>
/// y = x · Wᵀ on the CPU for F32, BF16, F16, Q8_0 and Q4_0 weights.
/// </summary>
/// <remarks>
/// Work is split by output rows into chunks (a multiple of 4 rows); each pool thread takes the chunks of its
/// home range first, so the same rows go to the same core every pass and stay in its caches, and steals the
/// rest; a matmul too small to pay for a dispatch runs on the calling thread alone.
/// Inside a chunk, a register tile of 4 weight rows (6 for long batches, CpuMatMul.SixRows.cs) × up to 4 token rows of Vector512 accumulators
/// streams the 4 weight rows once per group of 4 tokens (GEMV is the 1-token tile), BF16/F16 are
/// widened in registers, and the 16 sums of a tile are reduced with horizontal adds and stored as
/// 4 contiguous floats per token. With AVX2 but no AVX-512 the float tiles are Vector256, 4 rows × 2 tokens
/// and 2 rows × 4 tokens for batches of 3+ (CpuMatMul.Avx2.cs). Q8_0 quantizes the activations to int8 per 32-block once per call
/// and uses int8 dot products (AvxVnni vpdpbusd, else Avx2 vpmaddubsw + vpmaddwd) with the
/// |w| / sign(x, w) trick; Q4_0 does the same on unpacked nibbles (CpuMatMul.Q4.cs). Without AVX2 (or when forced) the
/// portable path widens each weight row and uses TensorPrimitives.Dot (Q8_0, Q4_0: scalar integer dots).
/// Q8_0 / Q4_0 matrices uploaded through <see cref="CpuBackend.UploadWeight"/> are in the row-interleaved layout and run
/// the kernels of CpuMatMul.Packed.cs (chunks a multiple of 8 rows); the GGUF-block kernels here serve tensors made directly.
/// <see cref="CpuMatMulGroup"/> runs several prepared matmuls over one input as one dispatch.
/// </remarks>
internal sealed unsafe partial class CpuMatMul : ParallelJob, IDisposable
{
    /// <summary>Multiply-adds below which the matmul stays on the calling thread.</summary>
    internal const long SmallWork = 48 * 1024;
    private const int SplitBatch = 4;

    private readonly WorkerPool _pool;
    private readonly bool _forceScalar;
    private float* _x;
    private float* _y;
    private byte* _w;
    private DType _dtype;
    private int _rows;
    private int _in;
    private int _out;
    private long _rowBytes;
    private int _chunkRows;
    private bool _simd;
    private bool _avx2;

    // Q8_0 activations: [rows, in] int8 and [rows, in / 32] scales.
    private sbyte* _qx;
    private float* _dx;
    private long _qCapacity;

    [ThreadStatic] private static float[]? t_rowScratch;

    /// <summary>This thread's scratch of at least <paramref name="floats"/> floats (grown, never shrunk).</summary>
    private static float[] RowScratch(int floats) =>
        t_rowScratch is { } s && s.Length >= floats ? s : (t_rowScratch = new float[floats]);

    private static readonly bool s_vnni = AvxVnni.IsSupported;
    private static readonly bool s_q8FourTokens = Avx512F.VL.IsSupported;

    private readonly bool _forceAvx2;

    public CpuMatMul(WorkerPool pool, bool forceScalar, bool forceAvx2 = false)
    {
        _pool = pool;
        _forceScalar = forceScalar;
        _forceAvx2 = forceAvx2;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(CpuTensor x, CpuTensor weight, CpuTensor y, int rows)
    {
        if (!Prepare(x, weight, y, rows)) return;
        long work = Work;
        int threads = _pool.ThreadCount;
        if (threads == 1 || work < SmallWork)
        {
            RunInline();
            return;
        }
        _pool.Run(this, Split(threads));
    }

    /// <summary>Multiply-adds of the prepared matmul, counted for a batch of at least SplitBatch tokens: a matrix worth
    /// splitting for a short verify pass is split for a single token too (a 192 × 192 projection on one thread made
    /// stories2M decoding 1.10× slower than with the split).</summary>
    internal long Work => (long)_out * _in * Math.Max(_rows, SplitBatch);

    /// <summary>Checks the operands and sets up one matmul (quantizing the activations for Q8_0 / Q4_0 weights);
    /// false when there is nothing to do. <see cref="Execute"/> then computes row chunks of it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal bool Prepare(CpuTensor x, CpuTensor weight, CpuTensor y, int rows)
    {
        if (weight.Shape.Length != 2) throw new ArgumentException($"matmul weight must be 2-D, got [{string.Join(", ", weight.Shape)}]");
        if (x.Cols != weight.Cols) throw new ArgumentException($"matmul: x has {x.Cols} columns, weight has {weight.Cols}");
        if (y.Cols != weight.Rows) throw new ArgumentException($"matmul: output has {y.Cols} columns, weight has {weight.Rows} rows");
        if (rows > x.Rows || rows > y.Rows) throw new ArgumentException($"matmul: {rows} rows exceed the buffers");
        if (rows <= 0) return false;
        _x = (float*)x.Pointer;
        _y = (float*)y.Pointer;
        _w = (byte*)weight.Pointer;
        _dtype = weight.DType;
        _rows = rows;
        _in = weight.Cols;
        _out = weight.Rows;
        _rowBytes = weight.DType.ByteSize(_in);
        _packed = weight.RowInterleaved;

        switch (_dtype)
        {
            case DType.F32 or DType.BF16 or DType.F16:
                _simd = !_forceScalar && !_forceAvx2 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && _in >= 16;
                _avx2 = !_simd && !_forceScalar && Avx2.IsSupported && Fma.IsSupported && _in >= 8;
                break;
            case DType.Q8_0 or DType.Q4_0:
                if (_in % DTypeInfo.Q8BlockSize != 0) throw new ArgumentException($"{_dtype.Name()} matmul needs a multiple of {DTypeInfo.Q8BlockSize} columns, got {_in}");
                _simd = !_forceScalar && Avx2.IsSupported;
                _avx2 = false;
                _ = HalfTable.Values; // built before the kernels read it
                QuantizeActivations();
                if (_packed) PreparePacked();
                break;
            default:
                throw new NotSupportedException($"matmul on {_dtype} weights is not supported by the CPU backend");
        }
        return true;
    }

    /// <summary>Runs the whole prepared matmul on the calling thread.</summary>
    internal void RunInline()
    {
        _chunkRows = _out;
        Execute(0);
    }

    /// <summary>Splits the prepared matmul into chunks for <paramref name="threads"/> threads and returns their count.</summary>
    internal int Split(int threads)
    {
        // About 4 chunks per thread balance uneven progress by stealing; chunks are whole 4-row tiles, numbered
        // the same way every call so that the pool's home ranges keep rows on one core.
        int chunks = threads * 4;
        int chunkRows = (_out + chunks - 1) / chunks;
        int align = _packed ? PackedQuantLayout.GroupRows : 4;
        chunkRows = Math.Max(16, (chunkRows + align - 1) / align * align);
        _chunkRows = chunkRows;
        return (_out + chunkRows - 1) / chunkRows;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int index)
    {
        int start = index * _chunkRows;
        int end = Math.Min(start + _chunkRows, _out);
        if (start >= end) return;
        if (_packed)
        {
            RowsPacked(start, end);
            return;
        }
        if (_simd)
        {
            switch (_dtype)
            {
                case DType.F32: Rows<F32Loader>(start, end); return;
                case DType.BF16: Rows<BF16Loader>(start, end); return;
                case DType.F16: Rows<F16WeightLoader>(start, end); return;
                case DType.Q8_0:
                    if (s_vnni) RowsQ8<VnniDot>(start, end);
                    else RowsQ8<Avx2Dot>(start, end);
                    return;
                case DType.Q4_0:
                    if (s_vnni && !_forceAvx2) RowsQ4<VnniDot>(start, end, s_q8FourTokens);
                    else RowsQ4<Avx2Dot>(start, end, s_q8FourTokens && !_forceAvx2);
                    return;
            }
        }
        if (_avx2)
        {
            switch (_dtype)
            {
                case DType.F32: RowsAvx2<F32Loader>(start, end); return;
                case DType.BF16: RowsAvx2<BF16Loader>(start, end); return;
                case DType.F16: RowsAvx2<F16WeightLoader>(start, end); return;
            }
        }
        if (_dtype == DType.Q8_0) RowsQ8Scalar(start, end);
        else if (_dtype == DType.Q4_0) RowsQ4Scalar(start, end);
        else RowsPortable(start, end);
    }

    // ---------------------------------------------------------------- float weights, AVX-512

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Rows<TL>(int start, int end) where TL : struct, IWeightLoader
    {
        int n = _in;
        int outCols = _out;
        nint rowBytes = (nint)_rowBytes;
        // A 4-token tile widens each weight vector once in registers; a longer batch would widen it again per
        // token tile (F16 widening costs several integer ops per 16 weights: F16 prefill ran at 0.37x F32's),
        // so batches over 4 tokens widen each 4-row block once into an L1-sized F32 scratch that every token
        // tile reads as F32 rows. Up to 4 tokens the scratch's store and reload cost more than they save.
        bool widenOnce = typeof(TL) != typeof(F32Loader) && _rows > 4;
        bool sixRows = typeof(TL) == typeof(F32Loader) ? _rows >= SixRowBatch : typeof(TL) == typeof(F16WeightLoader) && _rows >= SixRowWidenedBatch;
        float[] scratch = widenOnce ? RowScratch((sixRows ? 6 : 4) * n) : [];
        fixed (float* block = scratch)
        {
            int o = start;
            // Every row block's tiles fetch the next block's raw rows, spread over their token groups (see TokenTiles).
            nint share = PrefetchShare(rowBytes, _rows, n, out nint pstep);
            if (sixRows)
            {
                for (; o + 6 <= end; o += 6)
                {
                    byte* w = _w + o * _rowBytes;
                    if (widenOnce)
                    {
                        for (int r = 0; r < 6; r++) WidenRow16<TL>(w + r * rowBytes, block + r * n, n);
                        SixRowTokenTiles((byte*)block, n * sizeof(float), o, w + 6 * rowBytes, rowBytes, share, pstep);
                    }
                    else SixRowTokenTiles(w, rowBytes, o, w + 6 * rowBytes, rowBytes, share, pstep);
                }
            }
            for (; o + 4 <= end; o += 4)
            {
                byte* w = _w + o * _rowBytes;
                if (widenOnce)
                {
                    for (int r = 0; r < 4; r++) WidenRow16<TL>(w + r * rowBytes, block + r * n, n);
                    TokenTiles<F32Loader>((byte*)block, n * sizeof(float), o, w + 4 * rowBytes, rowBytes, share, pstep);
                }
                else TokenTiles<TL>(w, rowBytes, o, w + 4 * rowBytes, rowBytes, share, pstep);
            }
            for (; o < end; o++)
            {
                byte* w = _w + o * _rowBytes;
                for (int t = 0; t < _rows; t++) _y[(long)t * outCols + o] = Dot<TL>(w, _x + (long)t * n, n);
            }
        }
    }

    /// <summary>Every token row times the 4 weight rows at <paramref name="w"/> (outputs o..o+3), 4 tokens per tile,
    /// while the tiles prefetch the 4 rows of <paramref name="rowBytes"/> bytes at <paramref name="next"/> (the next row
    /// block, <paramref name="rowBytes"/> apart): <paramref name="share"/> bytes of each row per token group,
    /// <paramref name="pstep"/> per 16 columns.</summary>
    /// <remarks>Each token group prefetches an equal share of the next block, evenly over its columns: a block's later
    /// token groups compute from cache, and a memory stream that waits for them while only the first group fetches
    /// (as it did) adds their compute time to the memory time instead of hiding it (verify-7 cost 1.4 decode steps).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TokenTiles<TL>(byte* w, nint stride, int o, byte* next, nint rowBytes, nint share, nint pstep) where TL : struct, IWeightLoader
    {
        int n = _in;
        int outCols = _out;
        byte* last = next + rowBytes;
        int t = 0;
        for (; t + 4 <= _rows; t += 4, next += share)
            Tile<TL, Four>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, Min(next + share, last), pstep);
        switch (_rows - t)
        {
            case 3: Tile<TL, Three>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
            case 2: Tile<TL, Two>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
            case 1: Tile<TL, One>(w, stride, _x + (long)t * n, n, _y + (long)t * outCols + o, outCols, next, rowBytes, last, pstep); break;
        }
    }

    /// <summary>Bytes of each next-block row that one of the token groups of <paramref name="tokens"/> tokens prefetches,
    /// and in <paramref name="pstep"/> how far its prefetch moves per 16 of the <paramref name="n"/> columns to cover them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint PrefetchShare(nint rowBytes, int tokens, int n, out nint pstep)
    {
        int groups = (tokens + 3) / 4;
        nint share = ((rowBytes + groups - 1) / groups + 63) & ~(nint)63;
        pstep = (share * 16 + n - 1) / n;
        return share;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* Min(byte* a, byte* b) => a < b ? a : b;

    /// <summary>One step of a tile's prefetch of the next row block: the line at <paramref name="pn"/> in each of
    /// <paramref name="rows"/> rows (2, 4 or 6) <paramref name="ps"/> bytes apart, once per cache line (the first step
    /// into a line lands below <paramref name="pstep"/> in it); returns <paramref name="pn"/> moved on by
    /// <paramref name="pstep"/>, or unchanged at <paramref name="pe"/> and past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte* PrefetchStep(byte* pn, byte* pe, nint ps, nint pstep, int rows)
    {
        if (pn >= pe) return pn;
        if (((nint)pn & 63) < pstep)
        {
            Sse.Prefetch0(pn);
            Sse.Prefetch0(pn + ps);
            if (rows > 2)
            {
                Sse.Prefetch0(pn + 2 * ps);
                Sse.Prefetch0(pn + 3 * ps);
            }
            if (rows > 4)
            {
                Sse.Prefetch0(pn + 4 * ps);
                Sse.Prefetch0(pn + 5 * ps);
            }
        }
        return pn + pstep;
    }

    /// <summary>One weight row widened to F32 into <paramref name="destination"/>. Needs n ≥ 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenRow16<TL>(byte* row, float* destination, int n) where TL : struct, IWeightLoader
    {
        nint i = 0;
        for (; i + 16 <= n; i += 16) TL.Load16(row, i).Store(destination + i);
        if (i != n) TL.Load16(row, n - 16).Store(destination + n - 16);
    }

    /// <summary>Lanes [16 - rem, 16) set: the part of the last, overlapping vector not yet counted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> TailMask(int n) =>
        Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(16 - (n & 15))).AsSingle();

    /// <summary>4 weight rows × T token rows: y[t * yStride + r] = Σ_i w[r, i] · x[t * n + i], prefetching the bytes
    /// [<paramref name="pn"/>, <paramref name="pe"/>) of 4 rows <paramref name="ps"/> apart, <paramref name="pstep"/>
    /// bytes per 16 columns. Needs n ≥ 16.</summary>
    /// <remarks>Rows and tokens are addressed from two moving pointers and fixed strides, which leaves no pointer
    /// spilled to the stack (eight row pointers and the index did not fit the registers).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TL, TT>(byte* w, nint rowBytes, float* x, int n, float* y, int yStride, byte* pn, nint ps, byte* pe, nint pstep)
        where TL : struct, IWeightLoader where TT : struct, ITokenCount
    {
        int T = TT.Count;
        nint rb = rowBytes, rb3 = 3 * rowBytes;
        nint xb = (nint)n * sizeof(float), xb3 = 3 * xb;
        nint wStep = 16 * TL.ElementBytes;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        byte* pw = w;
        byte* px = (byte*)x;
        byte* end = (byte*)x + (n & ~15) * sizeof(float);
        // Rows of a few KiB are too short for the hardware prefetcher to ramp up on, and multi-token tiles
        // compute long enough per byte that it falls behind: fetch the next row block (a prefetch never
        // faults past the end) while this one is multiplied.
        for (; px < end; px += 64, pw += wStep)
        {
            pn = PrefetchStep(pn, pe, ps, pstep, 4);
            Vector512<float> v0 = TL.Load16(pw, 0), v1 = TL.Load16(pw + rb, 0), v2 = TL.Load16(pw + 2 * rb, 0), v3 = TL.Load16(pw + rb3, 0);
            Vector512<float> u = Vector512.Load((float*)px);
            a00 = Vector512.FusedMultiplyAdd(v0, u, a00); a10 = Vector512.FusedMultiplyAdd(v1, u, a10);
            a20 = Vector512.FusedMultiplyAdd(v2, u, a20); a30 = Vector512.FusedMultiplyAdd(v3, u, a30);
            if (T > 1)
            {
                u = Vector512.Load((float*)(px + xb));
                a01 = Vector512.FusedMultiplyAdd(v0, u, a01); a11 = Vector512.FusedMultiplyAdd(v1, u, a11);
                a21 = Vector512.FusedMultiplyAdd(v2, u, a21); a31 = Vector512.FusedMultiplyAdd(v3, u, a31);
            }
            if (T > 2)
            {
                u = Vector512.Load((float*)(px + 2 * xb));
                a02 = Vector512.FusedMultiplyAdd(v0, u, a02); a12 = Vector512.FusedMultiplyAdd(v1, u, a12);
                a22 = Vector512.FusedMultiplyAdd(v2, u, a22); a32 = Vector512.FusedMultiplyAdd(v3, u, a32);
            }
            if (T > 3)
            {
                u = Vector512.Load((float*)(px + xb3));
                a03 = Vector512.FusedMultiplyAdd(v0, u, a03); a13 = Vector512.FusedMultiplyAdd(v1, u, a13);
                a23 = Vector512.FusedMultiplyAdd(v2, u, a23); a33 = Vector512.FusedMultiplyAdd(v3, u, a33);
            }
        }
        if ((n & 15) != 0)
        {
            // Overlapping last vector; x is masked so the lanes already counted add zero.
            pw = w + (nint)(n - 16) * TL.ElementBytes;
            px = (byte*)x + (nint)(n - 16) * sizeof(float);
            Vector512<float> mask = TailMask(n);
            Vector512<float> v0 = TL.Load16(pw, 0), v1 = TL.Load16(pw + rb, 0), v2 = TL.Load16(pw + 2 * rb, 0), v3 = TL.Load16(pw + rb3, 0);
            Vector512<float> u = Vector512.Load((float*)px) & mask;
            a00 = Vector512.FusedMultiplyAdd(v0, u, a00); a10 = Vector512.FusedMultiplyAdd(v1, u, a10);
            a20 = Vector512.FusedMultiplyAdd(v2, u, a20); a30 = Vector512.FusedMultiplyAdd(v3, u, a30);
            if (T > 1)
            {
                u = Vector512.Load((float*)(px + xb)) & mask;
                a01 = Vector512.FusedMultiplyAdd(v0, u, a01); a11 = Vector512.FusedMultiplyAdd(v1, u, a11);
                a21 = Vector512.FusedMultiplyAdd(v2, u, a21); a31 = Vector512.FusedMultiplyAdd(v3, u, a31);
            }
            if (T > 2)
            {
                u = Vector512.Load((float*)(px + 2 * xb)) & mask;
                a02 = Vector512.FusedMultiplyAdd(v0, u, a02); a12 = Vector512.FusedMultiplyAdd(v1, u, a12);
                a22 = Vector512.FusedMultiplyAdd(v2, u, a22); a32 = Vector512.FusedMultiplyAdd(v3, u, a32);
            }
            if (T > 3)
            {
                u = Vector512.Load((float*)(px + xb3)) & mask;
                a03 = Vector512.FusedMultiplyAdd(v0, u, a03); a13 = Vector512.FusedMultiplyAdd(v1, u, a13);
                a23 = Vector512.FusedMultiplyAdd(v2, u, a23); a33 = Vector512.FusedMultiplyAdd(v3, u, a33);
            }
        }
        Sum4(a00, a10, a20, a30).Store(y);
        if (T > 1) Sum4(a01, a11, a21, a31).Store(y + yStride);
        if (T > 2) Sum4(a02, a12, a22, a32).Store(y + 2 * yStride);
        if (T > 3) Sum4(a03, a13, a23, a33).Store(y + 3 * yStride);
    }

    /// <summary>[Σ a, Σ b, Σ c, Σ d] with horizontal adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        Vector256<float> a2 = a.GetLower() + a.GetUpper();
        Vector256<float> b2 = b.GetLower() + b.GetUpper();
        Vector256<float> c2 = c.GetLower() + c.GetUpper();
        Vector256<float> d2 = d.GetLower() + d.GetUpper();
        Vector256<float> ab = Avx.HorizontalAdd(a2, b2);
        Vector256<float> cd = Avx.HorizontalAdd(c2, d2);
        Vector256<float> abcd = Avx.HorizontalAdd(ab, cd);
        return abcd.GetLower() + abcd.GetUpper();
    }

    /// <summary>One weight row · one token row. Needs n ≥ 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot<TL>(byte* w, float* x, int n) where TL : struct, IWeightLoader
    {
        Vector512<float> acc = default;
        nint i = 0;
        nint full = n & ~15;
        for (; i < full; i += 16) acc = Vector512.FusedMultiplyAdd(TL.Load16(w, i), Vector512.Load(x + i), acc);
        if (full != n) acc = Vector512.FusedMultiplyAdd(TL.Load16(w, n - 16), Vector512.Load(x + n - 16) & TailMask(n), acc);
        return Vector512.Sum(acc);
    }

    // ---------------------------------------------------------------- float weights, portable

    private void RowsPortable(int start, int end)
    {
        int n = _in;
        float[] scratch = RowScratch(n);
        for (int o = start; o < end; o++)
        {
            byte* row = _w + o * _rowBytes;
            ReadOnlySpan<float> w;
            switch (_dtype)
            {
                case DType.F32:
                    w = new ReadOnlySpan<float>(row, n);
                    break;
                case DType.BF16:
                    WideningKernels.BF16ToF32(new ReadOnlySpan<ushort>(row, n), scratch);
                    w = scratch.AsSpan(0, n);
                    break;
                default:
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(row, n), scratch);
                    w = scratch.AsSpan(0, n);
                    break;
            }
            for (int t = 0; t < _rows; t++)
                _y[(long)t * _out + o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(_x + (long)t * n, n), w);
        }
    }

    // ---------------------------------------------------------------- Q8_0

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void QuantizeActivations()
    {
        long bytes = (long)_rows * _in;
        if (bytes > _qCapacity)
        {
            NativeMemory.AlignedFree(_qx);
            NativeMemory.AlignedFree(_dx);
            _qCapacity = Math.Max(bytes, 4096);
            _qx = (sbyte*)NativeMemory.AlignedAlloc((nuint)_qCapacity, 64);
            _dx = (float*)NativeMemory.AlignedAlloc((nuint)(_qCapacity / DTypeInfo.Q8BlockSize * sizeof(float)), 64);
        }
        int blocks = _in / DTypeInfo.Q8BlockSize;
        bool avx512 = !_forceScalar && !_forceAvx2 && Avx512F.IsSupported;
        bool avx2 = !_forceScalar && Avx2.IsSupported;
        for (int t = 0; t < _rows; t++)
        {
            float* x = _x + (long)t * _in;
            sbyte* q = _qx + (long)t * _in;
            float* d = _dx + (long)t * blocks;
            if (avx512) Q8Activations.QuantizeRowAvx512(x, blocks, q, d);
            else if (avx2) Q8Activations.QuantizeRowAvx2(x, blocks, q, d);
            else Q8Activations.QuantizeRowScalar(x, blocks, q, d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowsQ8<TD>(int start, int end) where TD : struct, IInt8Dot
    {
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        int outCols = _out;
        nint rowBytes = (nint)_rowBytes;
        // Statics read once per call and passed down: NativeAOT checks a class constructor has run where a static is read
        // (the JIT finds it run already and reads nothing), and with that helper call in TileQ8 the AOT build kept the
        // accumulators in memory, loading and storing all 16 every block (stories110M q8_0 decode 0.7x the JIT's).
        bool fourTokens = s_q8FourTokens;
        float* half = HalfTable.Values;
        int o = start;
        for (; o + 4 <= end; o += 4)
        {
            byte* w = _w + o * _rowBytes;
            int t = 0;
            sbyte* qx = _qx;
            float* dx = _dx;
            float* y = _y + o;
            // Four token rows need 16 accumulators: only AVX-512's 32 vector registers hold them; with
            // AVX2's 16 the tile is at most two tokens high.
            if (fourTokens)
            {
                for (; t + 4 <= _rows; t += 4) TileQ8<Four, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
                if (_rows - t == 3) { TileQ8<Three, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half); continue; }
            }
            for (; t + 2 <= _rows; t += 2) TileQ8<Two, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
            if (t < _rows) TileQ8<One, TD>(w, rowBytes, qx + (long)t * n, dx + (long)t * blocks, blocks, y + (long)t * outCols, outCols, half);
        }
        for (; o < end; o++)
        {
            byte* w = _w + o * _rowBytes;
            for (int t = 0; t < _rows; t++)
                _y[(long)t * outCols + o] = DotQ8<TD>(w, _qx + (long)t * n, _dx + (long)t * blocks, blocks, half);
        }
    }

    /// <summary>4 Q8_0 weight rows × T quantized token rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileQ8<TT, TD>(byte* w, nint rowBytes, sbyte* qx, float* dx, int blocks, float* y, int yStride, float* half)
        where TT : struct, ITokenCount where TD : struct, IInt8Dot
    {
        int T = TT.Count;
        int n = blocks * DTypeInfo.Q8BlockSize;
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        // Q8_0 rows are short (34 bytes per 32 values), too short for the hardware prefetcher to ramp up per
        // row: fetch the next 4-row block (contiguous, 4 · 34 bytes per block step) while this one is used.
        byte* next = w + 4 * rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            nint off = b * Q8Format.BlockBytes;
            byte* ahead = next + 4 * off;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
            Vector256<sbyte> x0 = Vector256.Load(qx + b * 32);
            Vector256<sbyte> x1 = T > 1 ? Vector256.Load(qx + n + b * 32) : default;
            Vector256<sbyte> x2 = T > 2 ? Vector256.Load(qx + 2 * n + b * 32) : default;
            Vector256<sbyte> x3 = T > 3 ? Vector256.Load(qx + 3 * n + b * 32) : default;
            Vector256<float> d0 = Vector256.Create(dx[b]);
            Vector256<float> d1 = T > 1 ? Vector256.Create(dx[blocks + b]) : default;
            Vector256<float> d2 = T > 2 ? Vector256.Create(dx[2 * blocks + b]) : default;
            Vector256<float> d3 = T > 3 ? Vector256.Create(dx[3 * blocks + b]) : default;

            {
                byte* block = w0 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<sbyte> q = Vector256.Load((sbyte*)(block + 2));
                Vector256<byte> absW = Avx2.Abs(q);
                a00 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x0, q))) * d0, dw, a00);
                if (T > 1) a01 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x1, q))) * d1, dw, a01);
                if (T > 2) a02 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x2, q))) * d2, dw, a02);
                if (T > 3) a03 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x3, q))) * d3, dw, a03);
            }
            {
                byte* block = w1 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<sbyte> q = Vector256.Load((sbyte*)(block + 2));
                Vector256<byte> absW = Avx2.Abs(q);
                a10 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x0, q))) * d0, dw, a10);
                if (T > 1) a11 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x1, q))) * d1, dw, a11);
                if (T > 2) a12 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x2, q))) * d2, dw, a12);
                if (T > 3) a13 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x3, q))) * d3, dw, a13);
            }
            {
                byte* block = w2 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<sbyte> q = Vector256.Load((sbyte*)(block + 2));
                Vector256<byte> absW = Avx2.Abs(q);
                a20 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x0, q))) * d0, dw, a20);
                if (T > 1) a21 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x1, q))) * d1, dw, a21);
                if (T > 2) a22 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x2, q))) * d2, dw, a22);
                if (T > 3) a23 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x3, q))) * d3, dw, a23);
            }
            {
                byte* block = w3 + off;
                Vector256<float> dw = Vector256.Create(half[*(ushort*)block]);
                Vector256<sbyte> q = Vector256.Load((sbyte*)(block + 2));
                Vector256<byte> absW = Avx2.Abs(q);
                a30 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x0, q))) * d0, dw, a30);
                if (T > 1) a31 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x1, q))) * d1, dw, a31);
                if (T > 2) a32 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x2, q))) * d2, dw, a32);
                if (T > 3) a33 = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(TD.Dot(absW, Avx2.Sign(x3, q))) * d3, dw, a33);
            }
        }
        Sum4(a00, a10, a20, a30).Store(y);
        if (T > 1) Sum4(a01, a11, a21, a31).Store(y + yStride);
        if (T > 2) Sum4(a02, a12, a22, a32).Store(y + 2 * yStride);
        if (T > 3) Sum4(a03, a13, a23, a33).Store(y + 3 * yStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        Vector256<float> ab = Avx.HorizontalAdd(a, b);
        Vector256<float> cd = Avx.HorizontalAdd(c, d);
        Vector256<float> abcd = Avx.HorizontalAdd(ab, cd);
        return abcd.GetLower() + abcd.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float DotQ8<TD>(byte* w, sbyte* qx, float* dx, int blocks, float* half) where TD : struct, IInt8Dot
    {
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = w + b * Q8Format.BlockBytes;
            Vector256<sbyte> q = Vector256.Load((sbyte*)(block + 2));
            Vector256<int> p = TD.Dot(Avx2.Abs(q), Avx2.Sign(Vector256.Load(qx + b * 32), q));
            acc = Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(p), Vector256.Create(half[*(ushort*)block] * dx[b]), acc);
        }
        return Vector256.Sum(acc);
    }

    private void RowsQ8Scalar(int start, int end)
    {
        int n = _in;
        int blocks = n / DTypeInfo.Q8BlockSize;
        for (int o = start; o < end; o++)
        {
            byte* w = _w + o * _rowBytes;
            for (int t = 0; t < _rows; t++)
                _y[(long)t * _out + o] = Q8Activations.DotScalar(w, _qx + (long)t * n, _dx + (long)t * blocks, blocks);
        }
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_qx);
        NativeMemory.AlignedFree(_dx);
        _qx = null;
        _dx = null;
        _qCapacity = 0;
        DisposePacked();
    }
}

/// <summary>Every half bit pattern widened to float (256 KiB, built once): a Q8_0 scale costs one load,
/// and the few distinct scales of a model stay in L1.</summary>
internal static unsafe class HalfTable
{
    public static readonly float* Values = Build();

    private static float* Build()
    {
        var table = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int i = 0; i < 65536; i++) table[i] = FloatConversion.F16ToFloat((ushort)i);
        return table;
    }
}

/// <summary>Σ over 32 bytes of |w|·sign(x, w) = Σ w·x in 8 int32 lanes; one implementation per instruction
/// set, chosen once per call so the kernel loop has no branch.</summary>
internal interface IInt8Dot
{
    static abstract Vector256<int> Dot(Vector256<byte> absW, Vector256<sbyte> signedX);

    /// <summary>acc + Σ over each 4-byte group of u · s (u unsigned, at most 128; s signed).</summary>
    static abstract Vector256<int> DotAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s);
}

/// <summary>AvxVnni vpdpbusd.</summary>
internal readonly struct VnniDot : IInt8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> absW, Vector256<sbyte> signedX) =>
        AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, absW, signedX);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) =>
        AvxVnni.MultiplyWideningAndAdd(acc, u, s);
}

/// <summary>Avx2 vpmaddubsw + vpmaddwd. |w| ≤ 128 and |x| ≤ 127: a pair sum saturates int16 only for two
/// −128 weights, which quantization (±127) never produces.</summary>
internal readonly struct Avx2Dot : IInt8Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot(Vector256<byte> absW, Vector256<sbyte> signedX) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(absW, signedX), Vector256.Create((short)1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) => acc + Dot(u, s);
}

/// <summary>A token-tile height known to the JIT, so one kernel body compiles to 1-, 2-, 3- and 4-row variants.</summary>
internal interface ITokenCount
{
    static abstract int Count { get; }
}

internal readonly struct One : ITokenCount { public static int Count => 1; }
internal readonly struct Two : ITokenCount { public static int Count => 2; }
internal readonly struct Three : ITokenCount { public static int Count => 3; }
internal readonly struct Four : ITokenCount { public static int Count => 4; }

/// <summary>On-the-fly Q8 quantization of F32 activations: per block of 32, scale d = max|x| / 127 (kept
/// as F32) and q = round-half-even(x / d) as int8; the SIMD and scalar versions give identical bytes.</summary>
internal static unsafe class Q8Activations
{
    public static void QuantizeRowScalar(float* x, int blocks, sbyte* q, float* d)
    {
        for (int b = 0; b < blocks; b++)
        {
            float* v = x + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = MathF.Max(amax, MathF.Abs(v[i]));
            float scale = amax / 127f;
            float inv = scale == 0 ? 0 : 1f / scale;
            d[b] = scale;
            for (int i = 0; i < 32; i++) q[b * 32 + i] = (sbyte)Math.Clamp((int)MathF.Round(v[i] * inv), -127, 127);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRowAvx512(float* x, int blocks, sbyte* q, float* d)
    {
        for (int b = 0; b < blocks; b++)
        {
            Vector512<float> lo = Vector512.Load(x + b * 32);
            Vector512<float> hi = Vector512.Load(x + b * 32 + 16);
            float amax = MaxLanes(Vector512.MaxNative(Vector512.Abs(lo), Vector512.Abs(hi)));
            float scale = amax / 127f;
            float inv = scale == 0 ? 0 : 1f / scale;
            d[b] = scale;
            Vector512<float> iv = Vector512.Create(inv);
            // vcvtps2dq rounds half to even, as MathF.Round; vpmovsdb saturates (values are within ±127).
            Vector128<sbyte> qlo = Avx512F.ConvertToVector128SByteWithSaturation(Avx512F.ConvertToVector512Int32(lo * iv));
            Vector128<sbyte> qhi = Avx512F.ConvertToVector128SByteWithSaturation(Avx512F.ConvertToVector512Int32(hi * iv));
            qlo.Store(q + b * 32);
            qhi.Store(q + b * 32 + 16);
        }
    }

    /// <summary>The AVX2 version of <see cref="QuantizeRowAvx512"/>: identical bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRowAvx2(float* x, int blocks, sbyte* q, float* d)
    {
        Vector256<float> signBit = Vector256.Create(-0f);
        for (int b = 0; b < blocks; b++)
        {
            float* v = x + b * 32;
            Vector256<float> v0 = Vector256.Load(v), v1 = Vector256.Load(v + 8), v2 = Vector256.Load(v + 16), v3 = Vector256.Load(v + 24);
            Vector256<float> m = Vector256.MaxNative(Vector256.MaxNative(Avx.AndNot(signBit, v0), Avx.AndNot(signBit, v1)),
                                                     Vector256.MaxNative(Avx.AndNot(signBit, v2), Avx.AndNot(signBit, v3)));
            Vector128<float> h = Vector128.MaxNative(m.GetLower(), m.GetUpper());
            h = Vector128.MaxNative(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
            h = Vector128.MaxNative(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
            float scale = h.ToScalar() / 127f;
            float inv = scale == 0 ? 0 : 1f / scale;
            d[b] = scale;
            Vector256<float> iv = Vector256.Create(inv);
            // vcvtps2dq rounds half to even; the two packs saturate and interleave 128-bit lanes, which
            // vpermd puts back in order.
            Vector256<short> p01 = Avx2.PackSignedSaturate(Avx.ConvertToVector256Int32(v0 * iv), Avx.ConvertToVector256Int32(v1 * iv));
            Vector256<short> p23 = Avx2.PackSignedSaturate(Avx.ConvertToVector256Int32(v2 * iv), Avx.ConvertToVector256Int32(v3 * iv));
            Vector256<sbyte> packed = Avx2.PackSignedSaturate(p01, p23);
            Avx2.PermuteVar8x32(packed.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte().Store(q + b * 32);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxLanes(Vector512<float> v)
    {
        Vector256<float> a = Vector256.MaxNative(v.GetLower(), v.GetUpper());
        Vector128<float> b = Vector128.MaxNative(a.GetLower(), a.GetUpper());
        b = Vector128.MaxNative(b, Vector128.Shuffle(b, Vector128.Create(2, 3, 0, 1)));
        b = Vector128.MaxNative(b, Vector128.Shuffle(b, Vector128.Create(1, 0, 3, 2)));
        return b.ToScalar();
    }

    /// <summary>Σ_blocks d_w · d_x · Σ q_w · q_x for one Q8_0 weight row and one quantized activation row.</summary>
    public static float DotScalar(byte* w, sbyte* qx, float* dx, int blocks)
    {
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = w + b * Q8Format.BlockBytes;
            sbyte* q = (sbyte*)(block + 2);
            int s = 0;
            for (int i = 0; i < 32; i++) s += q[i] * qx[b * 32 + i];
            sum += FloatConversion.F16ToFloat(*(ushort*)block) * dx[b] * s;
        }
        return sum;
    }
}
