using SpecCore.Kernels;
#if SPECCORE_ILGPU
using SpecCore.Kernels.Ilgpu;
#endif

namespace SpecCore.Cli;

/// <summary>The ILGPU backends. ILGPU emits code at run time, which NativeAOT cannot do, so JIT builds reference the
/// ILGPU assembly (SPECCORE_ILGPU is defined) and NativeAOT builds leave it out and run on the CPU.</summary>
public static class GpuBackends
{
#if SPECCORE_ILGPU
    /// <summary>True when this build includes the ILGPU backend.</summary>
    public static bool Available => true;

    /// <summary>Creates an ILGPU backend for "cuda", "opencl" or "ilgpu-cpu".</summary>
    public static IBackend Create(string device) => IlgpuBackendFactory.Create(device);

    /// <summary>The best GPU backend (CUDA, then OpenCL), or null when there is none.</summary>
    public static IBackend? TryCreateAuto(Action<string>? notice)
    {
        IBackend? gpu = IlgpuBackendFactory.TryCreateGpu();
        if (gpu == null) notice?.Invoke("no usable CUDA or OpenCL device: running on the CPU (see 'speccore devices')");
        return gpu;
    }

    /// <summary>A listing of the devices ILGPU sees, with the reason any is skipped.</summary>
    public static string Describe() => IlgpuBackendFactory.DescribeDevices();
#else
    /// <summary>True when this build includes the ILGPU backend.</summary>
    public static bool Available => false;

    /// <summary>Creates an ILGPU backend: not possible in this build.</summary>
    public static IBackend Create(string device) =>
        throw new NotSupportedException($"this build has no GPU support (NativeAOT); use the JIT build for --device {device}");

    /// <summary>The best GPU backend: none in this build.</summary>
    public static IBackend? TryCreateAuto(Action<string>? notice) => null;

    /// <summary>A listing of the GPU devices: none in this build.</summary>
    public static string Describe() => "gpu: this build has no GPU support (NativeAOT, CPU backend only); use the JIT build for CUDA/OpenCL";
#endif
}
