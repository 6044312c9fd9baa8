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
            // Each row of B is read once per block of A's rows while it sits in cache.
            for (int j = 0; j < n; j++)
            {
                ReadOnlySpan<T> bRow = B.AsSpan(j * k, k);
                for (int i = m0; i < m1; i++)
                {
                    T dot = TensorPrimitives.Dot<T>(A.AsSpan(i * k, k), bRow);
                    ref T c = ref C[i * n + j];
                    c = Accumulate ? c + dot : dot;
                }
            }
        }
    }
}
