namespace SpecCore.Kernels;

/// <summary>Precomputed rotary-embedding cos/sin values for positions [0, MaxPositions), owned by a backend.</summary>
public abstract class RopeTable : IDisposable
{
    /// <summary>Creates the shared description.</summary>
    protected RopeTable(int halfDim, int maxPositions)
    {
        HalfDim = halfDim;
        MaxPositions = maxPositions;
    }

    /// <summary>headDim / 2: rotated pairs per head.</summary>
    public int HalfDim { get; }

    /// <summary>Positions covered.</summary>
    public int MaxPositions { get; }

    /// <inheritdoc />
    public abstract void Dispose();
}
