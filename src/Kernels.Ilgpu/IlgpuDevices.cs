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
    /// <summary>The CPU accelerator configuration used by "ilgpu-cpu": one simulated multiprocessor whose
    /// groups hold <paramref name="warpsPerGroup"/> warps of <paramref name="warpSize"/> threads. Every
    /// simulated thread is an OS thread and every barrier or shuffle a thread rendezvous, so small warps
    /// and groups keep it usable on few cores.</summary>
    internal static CPUDevice CpuDevice(int warpSize = 4, int warpsPerGroup = 4) => new(warpSize, warpsPerGroup, 1);

    /// <summary>Every device ILGPU sees: CUDA devices, OpenCL devices (including ones it cannot use, with the
    /// reason) and the CPU accelerator.</summary>
    public static IReadOnlyList<IlgpuDeviceInfo> List()
    {
        var list = new List<IlgpuDeviceInfo>();
        Probe(list, "cuda", AcceleratorType.Cuda, b => b.Cuda());
        Probe(list, "opencl", AcceleratorType.OpenCL, b => b.OpenCL(_ => true));
        Probe(list, "ilgpu-cpu", AcceleratorType.CPU, b => b.CPU(CpuDevice()));
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

    private static void Probe(List<IlgpuDeviceInfo> list, string kind, AcceleratorType type, Action<Context.Builder> configure)
    {
        try
        {
            using var context = Context.Create(b => configure(b));
            // A context always carries a CPU device as well: keep only the kind asked for.
            int found = 0;
            foreach (Device d in context)
            {
                if (d.AcceleratorType != type) continue;
                list.Add(Describe(kind, d));
                found++;
            }
            if (found == 0) list.Add(new IlgpuDeviceInfo(kind, "(none)", 0, 0, "", false, $"no {kind} device or driver found"));
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
                else if (!cl.Capabilities.SubGroups)
                    reason = "no OpenCL sub-groups (cl_khr_subgroups or cl_intel_subgroups), which the warp-shuffle kernels need";
                return new(kind, $"{cl.Name} ({cl.VendorName})", cl.MemorySize, cl.WarpSize, cap, reason is null, reason);
            }
            default:
                return new(kind, device.Name + " (GPU simulated on CPU threads; for tests, slow)", 0, device.WarpSize, "host memory", true, null);
        }
    }
}
