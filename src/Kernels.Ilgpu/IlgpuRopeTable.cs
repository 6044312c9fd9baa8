using ILGPU;
using ILGPU.Runtime;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>Rotary cos/sin table in device memory: [maxPositions, halfDim] each, computed on the host in
/// double precision (the same values as the CPU backend's table).</summary>
public sealed class IlgpuRopeTable : RopeTable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _cos;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _sin;

    internal IlgpuRopeTable(Accelerator accelerator, ReadOnlySpan<double> inverseFrequencies, int maxPositions)
        : base(inverseFrequencies.Length, maxPositions)
    {
        var cos = new float[maxPositions * HalfDim];
        var sin = new float[maxPositions * HalfDim];
        for (int p = 0; p < maxPositions; p++)
        {
            for (int j = 0; j < HalfDim; j++)
            {
                double angle = p * inverseFrequencies[j];
                cos[p * HalfDim + j] = (float)Math.Cos(angle);
                sin[p * HalfDim + j] = (float)Math.Sin(angle);
            }
        }
        _cos = accelerator.Allocate1D(cos);
        _sin = accelerator.Allocate1D(sin);
    }

    internal ArrayView<float> Cos => _cos.View;

    internal ArrayView<float> Sin => _sin.View;

    /// <inheritdoc />
    public override void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
