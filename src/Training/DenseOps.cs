using System.Numerics;
using System.Numerics.Tensors;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>The dense kernels of training on host arrays, generic over the element type so that the same code
/// trains in F32 and is gradient-checked in F64. Matrices are row-major; every kernel writes into buffers the
/// caller allocated once.</summary>
internal sealed class DenseOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly WorkerPool _pool;
    private readonly MatMulJob _matMul = new();
    private const int RowBlock = 8;

    /// <summary>Kernels that run on <paramref name="pool"/>.</summary>
    public DenseOps(WorkerPool pool) => _pool = pool;

    /// <summary>The pool the kernels run on.</summary>
    public WorkerPool Pool => _pool;

    /// <summary>C[m, n] (+)= Σ_k A[m, k] · B[n, k]: A [m, k], B [n, k], C [m, n] (the product with B transposed,
    /// which is a forward linear layer when B is a weight [out, in]).</summary>
    public void MultiplyTransposed(T[] a, int m, int k, T[] b, int n, T[] c, bool accumulate = false)
    {
        _matMul.A = a; _matMul.B = b; _matMul.C = c;
        _matMul.M = m; _matMul.K = k; _matMul.N = n; _matMul.Accumulate = accumulate;
        _pool.Run(_matMul, (m + RowBlock - 1) / RowBlock);
        _matMul.A = _matMul.B = _matMul.C = null!;
    }

    /// <summary>dst [cols, rows] = src [rows, cols] transposed.</summary>
    public static void Transpose(T[] src, int rows, int cols, T[] dst)
    {
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(rows, r0 + Tile);
            for (int c0 = 0; c0 < cols; c0 += Tile)
            {
                int c1 = Math.Min(cols, c0 + Tile);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        dst[c * rows + r] = src[r * cols + c];
            }
        }
    }

    private sealed class MatMulJob : ParallelJob
    {
        public T[] A = null!, B = null!, C = null!;
        public int M, K, N;
        public bool Accumulate;

        public override void Execute(int index)
        {
            int m0 = index * RowBlock, m1 = Math.Min(M, m0 + RowBlock);
            int k = K, n = N;
            int i = m0;
            // 4 rows of A against 2 rows of B at a time: 8 vector accumulators, 6 loads per 8 multiply-adds.
            for (; i + 4 <= m1; i += 4)
            {
                int j = 0;
                for (; j + 2 <= n; j += 2) Block4x2(i, j, k, n);
                for (; j < n; j++)
                    for (int r = i; r < i + 4; r++) Store(r, j, n, TensorPrimitives.Dot<T>(A.AsSpan(r * k, k), B.AsSpan(j * k, k)));
            }
            for (; i < m1; i++)
                for (int j = 0; j < n; j++) Store(i, j, n, TensorPrimitives.Dot<T>(A.AsSpan(i * k, k), B.AsSpan(j * k, k)));
        }

        private void Store(int i, int j, int n, T value)
        {
            ref T c = ref C[i * n + j];
            c = Accumulate ? c + value : value;
        }

        private void Block4x2(int i, int j, int k, int n)
        {
            ReadOnlySpan<T> a0 = A.AsSpan(i * k, k), a1 = A.AsSpan((i + 1) * k, k), a2 = A.AsSpan((i + 2) * k, k), a3 = A.AsSpan((i + 3) * k, k);
            ReadOnlySpan<T> b0 = B.AsSpan(j * k, k), b1 = B.AsSpan((j + 1) * k, k);
            Vector<T> c00 = Vector<T>.Zero, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            int w = Vector<T>.Count, x = 0;
            for (; x + w <= k; x += w)
            {
                var v0 = new Vector<T>(b0.Slice(x));
                var v1 = new Vector<T>(b1.Slice(x));
                var u = new Vector<T>(a0.Slice(x)); c00 += u * v0; c01 += u * v1;
                u = new Vector<T>(a1.Slice(x)); c10 += u * v0; c11 += u * v1;
                u = new Vector<T>(a2.Slice(x)); c20 += u * v0; c21 += u * v1;
                u = new Vector<T>(a3.Slice(x)); c30 += u * v0; c31 += u * v1;
            }
            T s00 = Vector.Sum(c00), s01 = Vector.Sum(c01), s10 = Vector.Sum(c10), s11 = Vector.Sum(c11);
            T s20 = Vector.Sum(c20), s21 = Vector.Sum(c21), s30 = Vector.Sum(c30), s31 = Vector.Sum(c31);
            for (; x < k; x++)
            {
                T v0 = b0[x], v1 = b1[x];
                s00 += a0[x] * v0; s01 += a0[x] * v1; s10 += a1[x] * v0; s11 += a1[x] * v1;
                s20 += a2[x] * v0; s21 += a2[x] * v1; s30 += a3[x] * v0; s31 += a3[x] * v1;
            }
            Store(i, j, n, s00); Store(i, j + 1, n, s01); Store(i + 1, j, n, s10); Store(i + 1, j + 1, n, s11);
            Store(i + 2, j, n, s20); Store(i + 2, j + 1, n, s21); Store(i + 3, j, n, s30); Store(i + 3, j + 1, n, s31);
        }
    }
}
