using System.Numerics;

namespace SpecCore.Training;

/// <summary>RMSNorm over rows, y = w ⊙ x / sqrt(mean(x²) + eps), and its gradients.</summary>
internal static class RmsNormOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Normalises <paramref name="rows"/> rows of width <paramref name="width"/> read at column
    /// <paramref name="srcCol"/> of <paramref name="src"/> (row stride <paramref name="srcStride"/>) into
    /// <paramref name="dst"/> at column <paramref name="dstCol"/> (stride <paramref name="dstStride"/>); keeps each
    /// row's 1/rms in <paramref name="invRms"/>[row * invStride + invCol].</summary>
    public static void Forward(T[] src, int srcStride, int srcCol, T[] weight, T[] dst, int dstStride, int dstCol,
        T[] invRms, int invStride, int invCol, int rows, int width, T eps)
    {
        T n = T.CreateChecked(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> x = src.AsSpan(r * srcStride + srcCol, width);
            Span<T> y = dst.AsSpan(r * dstStride + dstCol, width);
            T sum = T.Zero;
            for (int i = 0; i < width; i++) sum += x[i] * x[i];
            T inv = T.One / T.Sqrt(sum / n + eps);
            invRms[r * invStride + invCol] = inv;
            for (int i = 0; i < width; i++) y[i] = weight[i] * x[i] * inv;
        }
    }

    /// <summary>Back-propagates <paramref name="dy"/> (laid out like the forward's dst): adds the input's gradient to
    /// <paramref name="dx"/> (laid out like src) and the weight's to <paramref name="dWeight"/>.</summary>
    /// <remarks>With r = 1/rms and u = w ⊙ dy: dx = r·u − x·r³·(u·x)/width, dw = Σ_rows dy ⊙ x·r.</remarks>
    public static void Backward(T[] src, int srcStride, int srcCol, T[] weight, T[] dy, int dyStride, int dyCol,
        T[] invRms, int invStride, int invCol, T[] dx, int dxStride, int dxCol, T[] dWeight, int rows, int width)
    {
        T n = T.CreateChecked(width);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> x = src.AsSpan(r * srcStride + srcCol, width);
            ReadOnlySpan<T> g = dy.AsSpan(r * dyStride + dyCol, width);
            Span<T> gx = dx.AsSpan(r * dxStride + dxCol, width);
            T inv = invRms[r * invStride + invCol];
            T ux = T.Zero;
            for (int i = 0; i < width; i++)
            {
                ux += weight[i] * g[i] * x[i];
                dWeight[i] += g[i] * x[i] * inv;
            }
            T c = ux * inv * inv * inv / n;
            for (int i = 0; i < width; i++) gx[i] += inv * weight[i] * g[i] - x[i] * c;
        }
    }
}
