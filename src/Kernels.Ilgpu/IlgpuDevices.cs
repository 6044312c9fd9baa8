using System.Text;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>One device ILGPU sees, and whether SpecCore can run on it.</summary>
/// <param name="Kind">Device kind as the <c>--device</c> option names it: "cuda", "opencl" or "ilgpu-cpu".</param>
/// <param name="Name">The device's name.</param>
/// <param name="MemoryBytes">Device memory in bytes.</param>
/// <param name="WarpSize">Threads per warp (sub-group).</param>
/// <param name="Capability">CUDA compute capability ("sm_90") or OpenCL device and C versions.</param>
/// <param name="Usable">Whether the backend can run on it.</param>
/// <param name="Reason">Why the device is skipped (null when usable).</param>
public sealed record IlgpuDeviceInfo(string Kind, string Name, long MemoryBytes, int WarpSize, string Capability, bool Usable, string? Reason);

/// <summary>Enumerates the devices ILGPU can reach (CUDA, OpenCL, its CPU accelerator) and decides which
/// are usable. A missing driver or an unusable device is reported, never thrown.</summary>
public static class IlgpuDevices
{
    /// <summary>Threads per warp of the CPU accelerator: small, so tests of the warp-shuffle kernels run fast
    /// on few cores while still covering multi-warp groups.</summary>
    internal const int CpuWarpSize = 4;

    /// <summary>Warps per group (and per simulated multiprocessor) of the CPU accelerator.</summary>
    internal const int CpuWarpsPerGroup = 4;

    /// <summary>The CPU accelerator configuration used by "ilgpu-cpu".</summary>
    internal static CPUDevice CpuDevice() => new(CpuWarpSize, CpuWarpsPerGroup, 1);

    /// <summary>Every device ILGPU sees: CUDA devices, OpenCL devices (including ones it cannot use, with the
    /// reason) and the CPU accelerator.</summary>
    public static IReadOnlyList<IlgpuDeviceInfo> List()
    {
        var list = new List<IlgpuDeviceInfo>();
        Probe(list, "cuda", b => b.Cuda());
        Probe(list, "opencl", b => b.OpenCL(_ => true));
        Probe(list, "ilgpu-cpu", b => b.CPU(CpuDevice()));
        return list;
    }

    /// <summary>A table of <see cref="List"/> for humans (the CLI's <c>devices</c> command).</summary>
    public static string Describe()
    {
        var sb = new StringBuilder();
        foreach (var d in List())
        {
            sb.Append($"{d.Kind,-10} {d.Name}");
            if (d.MemoryBytes > 0) sb.Append($", {d.MemoryBytes / (1024.0 * 1024 * 1024):F1} GiB");
            if (d.WarpSize > 0) sb.Append($", warp {d.WarpSize}");
            if (d.Capability.Length > 0) sb.Append($", {d.Capability}");
            sb.Append(d.Usable ? "  [usable]" : $"  [skipped: {d.Reason}]");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static void Probe(List<IlgpuDeviceInfo> list, string kind, Action<Context.Builder> configure)
    {
        try
        {
            using var context = Context.Create(b => configure(b));
            foreach (Device d in context) list.Add(Describe(kind, d));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            list.Add(new IlgpuDeviceInfo(kind, "(driver)", 0, 0, "", false, $"{kind} could not be initialised: {e.GetType().Name}: {e.Message}"));
        }
    }

    /// <summary>Describes one device and decides whether it is usable.</summary>
    internal static IlgpuDeviceInfo Describe(string kind, Device device)
    {
        switch (device)
        {
            case CudaDevice cuda:
            {
                string cap = cuda.Architecture is CudaArchitecture a ? $"sm_{a.Major}{a.Minor}" : "unknown architecture";
                string? reason = cuda.Architecture is null ? "compute capability not supported by ILGPU 1.5.3"
                    : cuda.InstructionSet is null ? $"no PTX instruction set for this driver ({cuda.DriverVersion})" : null;
                return new(kind, cuda.Name, cuda.MemorySize, cuda.WarpSize, cap, reason is null, reason);
            }
            case CLDevice cl:
            {
                string cap = $"OpenCL {cl.DeviceVersion}, C {cl.CVersion}";
                string? reason = null;
                if (!cl.Capabilities.GenericAddressSpace)
                    reason = "no OpenCL 2.0 generic address space, which ILGPU's OpenCL backend needs (e.g. PoCL)";
                else if (cl.CVersion < CLCVersion.CL20)
                    reason = $"OpenCL C {cl.CVersion} is older than 2.0";
                return new(kind, $"{cl.Name} ({cl.VendorName})", cl.MemorySize, cl.WarpSize, cap, reason is null, reason);
            }
            default:
                return new(kind, device.Name + " (simulated GPU on CPU threads; for tests, slow)", device.MemorySize, device.WarpSize, "", true, null);
        }
    }
}
