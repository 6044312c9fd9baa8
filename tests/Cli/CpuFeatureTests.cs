using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Cli;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Tests.Cli;

/// <summary>The kernel path reported by --version and devices is the one the kernels take, and the hardware probe (CPUID,
/// and /proc/cpuinfo on Linux), which the NativeAOT binary uses to pick speccore-avx512, agrees with the JIT's own view.</summary>
public sealed class CpuFeatureTests
{
    [Fact]
    public void KernelPathFollowsTheKernelsGates()
    {
        string expected = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? "AVX-512" : Avx2.IsSupported && Fma.IsSupported ? "AVX2" : "scalar";
        Assert.Equal(expected, CpuFeatures.KernelPath);
        Assert.Equal("JIT", CpuFeatures.Build);
        Assert.Contains($"CPU kernels: {expected}", CliApp.VersionText);
    }

    [Fact]
    public void HardwareProbeAgreesWithTheRuntime()
    {
        // The JIT sees the hardware unless told otherwise (DOTNET_EnableAVX512=0 hides AVX-512 from it, not from the probe).
        if (Avx512F.IsSupported && Avx512BW.IsSupported && Avx512CD.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported)
            Assert.True(CpuFeatures.HardwareHasAvx512);
        if (Avx2.IsSupported && Fma.IsSupported) Assert.True(CpuFeatures.HardwareHasAvx2);
        if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
        {
            string flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags", StringComparison.Ordinal));
            var set = flags[(flags.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
            Assert.Equal(new[] { "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl" }.All(set.Contains), CpuFeatures.HardwareHasAvx512);
        }
    }
}
