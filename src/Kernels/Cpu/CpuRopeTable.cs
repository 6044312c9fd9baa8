namespace SpecCore.Kernels.Cpu;

/// <summary>Rotary cos/sin table in host memory: [maxPositions, halfDim] each.</summary>
public sealed class CpuRopeTable : RopeTable
{
    /// <summary>Computes the table in double precision, rounded once to float.</summary>
    public CpuRopeTable(ReadOnlySpan<double> inverseFrequencies, int maxPositions)
        : base(inverseFrequencies.Length, maxPositions)
    {
        Cos = new float[maxPositions * HalfDim];
        Sin = new float[maxPositions * HalfDim];
        for (int p = 0; p < maxPositions; p++)
        {
            for (int j = 0; j < HalfDim; j++)
            {
                double angle = p * inverseFrequencies[j];
                Cos[p * HalfDim + j] = (float)Math.Cos(angle);
                Sin[p * HalfDim + j] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>cos(position * invFreq[j]) at [position * HalfDim + j].</summary>
    public float[] Cos { get; }

    /// <summary>sin(position * invFreq[j]) at [position * HalfDim + j].</summary>
    public float[] Sin { get; }

    /// <inheritdoc />
    public override void Dispose() { }
}
