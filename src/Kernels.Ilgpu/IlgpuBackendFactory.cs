namespace SpecCore.Kernels.Ilgpu;

/// <summary>
/// The entry points a host program (the CLI, the benchmarks) uses to reach the ILGPU backend without
/// naming ILGPU types. Referencing this assembly is what brings ILGPU in, so a NativeAOT build leaves the
/// reference (and this class) out and stays ILGPU-free.
/// </summary>
public static class IlgpuBackendFactory
{
    /// <summary>Device names this factory accepts.</summary>
    public static IReadOnlyList<string> DeviceKinds { get; } = new[] { "cuda", "opencl", "ilgpu-cpu" };

    /// <summary>Whether <paramref name="device"/> names an ILGPU device kind (case-insensitive).</summary>
    public static bool IsIlgpuDevice(string device) => DeviceKinds.Contains(device.ToLowerInvariant());

    /// <summary>Creates a backend on the first usable device of a kind ("cuda", "opencl" or "ilgpu-cpu").
    /// Throws <see cref="InvalidOperationException"/> with the reason when none is usable.</summary>
    public static IBackend Create(string device, int? attentionChunk = null) =>
        IlgpuBackend.Create(device, attentionChunk is int c ? new IlgpuOptions { AttentionChunk = c } : null);

    /// <summary>For <c>--device auto</c>: a backend on the first usable GPU, CUDA first, then OpenCL; null
    /// when neither is usable (the caller then takes the CPU backend).</summary>
    public static IBackend? TryCreateGpu()
    {
        foreach (string kind in new[] { "cuda", "opencl" })
        {
            try
            {
                return IlgpuBackend.Create(kind);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // not present or not usable: try the next kind
            }
        }
        return null;
    }

    /// <summary>A human-readable list of every device ILGPU sees, with why unusable ones are skipped.</summary>
    public static string DescribeDevices() => IlgpuDevices.Describe();
}
