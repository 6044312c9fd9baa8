using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>The bandwidth probes bench sets its "of bw" column against.</summary>
public class MemoryBandwidthTests
{
    [Fact]
    public void WorkingSetProbeReadsASmallArrayAndReportsARate()
    {
        // A size below the 1 MiB floor is raised to it; the figure is a finite, positive rate.
        double gbps = MemoryBandwidth.MeasureReadGBps(1, 1000);
        Assert.True(double.IsFinite(gbps) && gbps > 0, $"rate {gbps}");
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryBandwidth.MeasureReadGBps(0, 1 << 20));
    }

    [Fact]
    public void LastLevelCacheIsUnknownOrPositive()
    {
        long? bytes = MemoryBandwidth.LastLevelCacheBytes();
        Assert.True(bytes is null || bytes > 0, $"last-level cache {bytes}");
        if (OperatingSystem.IsLinux() && Directory.Exists("/sys/devices/system/cpu/cpu0/cache/index0")) Assert.NotNull(bytes);
    }
}
