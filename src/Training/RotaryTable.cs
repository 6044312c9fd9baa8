using System.Numerics;

namespace SpecCore.Training;

/// <summary>Rotary position embedding in Hugging Face's rotate-half layout (pairs i and i + headDim/2 of each head),
/// with the target's inverse frequencies (its theta and scaling), for positions [0, positions).</summary>
internal sealed class RotaryTable<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _cos; // [positions, headDim/2]
    private readonly T[] _sin; // [positions, headDim/2]
    private readonly int _half;

    /// <summary>Builds the table from inverse frequencies (one per pair).</summary>
    public RotaryTable(double[] inverseFrequencies, int positions)
    {
        _half = inverseFrequencies.Length;
        Positions = positions;
        _cos = new T[positions * _half];
        _sin = new T[positions * _half];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < _half; i++)
            {
                double angle = p * inverseFrequencies[i];
                _cos[p * _half + i] = T.CreateChecked(Math.Cos(angle));
                _sin[p * _half + i] = T.CreateChecked(Math.Sin(angle));
            }
    }

    /// <summary>Number of positions in the table.</summary>
    public int Positions { get; }

    /// <summary>Rotates every head of one row (<paramref name="heads"/> heads of 2·half values) to
    /// <paramref name="position"/>; <paramref name="inverse"/> rotates back, which is also the gradient's rule
    /// (the rotation is orthogonal).</summary>
    public void Apply(Span<T> row, int heads, int position, bool inverse = false)
    {
        int half = _half;
        ReadOnlySpan<T> cos = _cos.AsSpan(position * half, half);
        ReadOnlySpan<T> sin = _sin.AsSpan(position * half, half);
        for (int h = 0; h < heads; h++)
        {
            Span<T> v = row.Slice(h * 2 * half, 2 * half);
            for (int i = 0; i < half; i++)
            {
                T a = v[i], b = v[i + half];
                T s = inverse ? -sin[i] : sin[i];
                v[i] = a * cos[i] - b * s;
                v[i + half] = b * cos[i] + a * s;
            }
        }
    }
}
