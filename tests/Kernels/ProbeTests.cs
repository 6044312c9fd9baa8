using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>The FMA-peak probe returns a finite, positive rate and validates its thread count (no timed assertion:
/// the figure depends on the machine).</summary>
public class ProbeTests
{
    [Fact]
    public void FmaPeakIsFinitePositive()
    {
        double one = FmaPeak.MeasureGFlops(1);
        Assert.True(double.IsFinite(one) && one > 0.1, $"1 thread: {one} GFLOP/s");
        Assert.Throws<ArgumentOutOfRangeException>(() => FmaPeak.MeasureGFlops(0));
    }
}
