using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecCore.Kernels.Cpu;

/// <summary>Which CPU kernel path this process runs, and what the CPU itself could run.</summary>
/// <remarks>
/// The kernels gate on <c>IsSupported</c> / <c>IsHardwareAccelerated</c>, which the JIT folds to constants for the CPU it
/// runs on, and which NativeAOT folds to constants for the instruction set the binary was compiled for (AVX-512 cannot be
/// an "opportunistic" run-time check above an AVX2 baseline: the compiler would otherwise use EVEX encodings anywhere).
/// So a NativeAOT build's path is fixed by its baseline, and the CLI picks the binary compiled for the widest level the
/// CPU has (<c>speccore</c> for x86-64-v3, <c>speccore-avx512</c> for x86-64-v4); <see cref="HardwareHasAvx512"/> reads
/// the CPU directly, whatever the build's baseline.
/// </remarks>
public static class CpuFeatures
{
    /// <summary>True when the matmul, attention and widening kernels take their AVX-512 (Vector512) paths.</summary>
    public static bool Avx512Kernels => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>"AVX-512", "AVX2" or "scalar": the kernel path the CPU backend takes in this process.</summary>
    public static string KernelPath => Avx512Kernels ? "AVX-512" : Avx2.IsSupported && Fma.IsSupported ? "AVX2" : "scalar";

    /// <summary>How the Q8_0/Q4_0 kernels multiply int8: "VNNI" (AvxVnni vpdpbusd), "AVX2" (vpmaddubsw + vpmaddwd) or
    /// "scalar", as this process sees it (a NativeAOT build sees only what its baseline or opportunistic sets allow).</summary>
    public static string Int8Path => AvxVnni.IsSupported ? "VNNI" : Avx2.IsSupported ? "AVX2" : "scalar";

    /// <summary>"JIT", or "NativeAOT x86-64-v4" / "NativeAOT x86-64-v3" (the instruction-set baseline compiled in).</summary>
    public static string Build => RuntimeFeature.IsDynamicCodeSupported ? "JIT"
        : Avx512F.IsSupported ? "NativeAOT x86-64-v4" : Avx2.IsSupported ? "NativeAOT x86-64-v3" : "NativeAOT";

    /// <summary>The CPU (and OS) support AVX-512 F/BW/CD/DQ/VL (x86-64-v4), whatever this build was compiled for or the
    /// runtime was told (DOTNET_EnableAVX512=0 turns off the JIT's use of it, not the hardware).</summary>
    public static bool HardwareHasAvx512 { get; } = DetectAvx512();

    /// <summary>"AVX-512", "AVX2" or "none": the widest SIMD level the hardware offers.</summary>
    public static string HardwareLevel => HardwareHasAvx512 ? "AVX-512" : HardwareHasAvx2 ? "AVX2" : "none";

    /// <summary>The CPU supports AVX2 and FMA (x86-64-v3's vector part).</summary>
    public static bool HardwareHasAvx2 { get; } = DetectAvx2();

    private static bool DetectAvx512()
    {
        if (!X86Base.IsSupported || X86Base.CpuId(0, 0).Eax < 7) return false;
        if ((X86Base.CpuId(1, 0).Ecx & (1 << 27)) == 0) return false; // OSXSAVE: the OS saves the extended state
        const int needed = (1 << 16) | (1 << 17) | (1 << 28) | (1 << 30) | (1 << 31); // F, DQ, CD, BW, VL
        if ((X86Base.CpuId(7, 0).Ebx & needed) != needed) return false;
        // CPUID reports the silicon; Linux lists the flags only where it enabled the ZMM/opmask state (XCR0).
        return !OperatingSystem.IsLinux() || LinuxFlags() is not { } flags
            || (flags.Contains("avx512f") && flags.Contains("avx512bw") && flags.Contains("avx512cd")
                && flags.Contains("avx512dq") && flags.Contains("avx512vl"));
    }

    private static bool DetectAvx2()
    {
        if (!X86Base.IsSupported || X86Base.CpuId(0, 0).Eax < 7) return false;
        int ecx1 = X86Base.CpuId(1, 0).Ecx;
        const int fmaAvxOsxsave = (1 << 12) | (1 << 27) | (1 << 28);
        return (ecx1 & fmaAvxOsxsave) == fmaAvxOsxsave && (X86Base.CpuId(7, 0).Ebx & (1 << 5)) != 0;
    }

    /// <summary>The first CPU's flags from /proc/cpuinfo, or null where it cannot be read.</summary>
    private static HashSet<string>? LinuxFlags()
    {
        try
        {
            using var reader = new StreamReader("/proc/cpuinfo");
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith("flags", StringComparison.Ordinal)) continue;
                int colon = line.IndexOf(':');
                return colon < 0 ? null : [.. line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)];
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
