using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Cli;

/// <summary>Creates the backend a --device value names.</summary>
public static class BackendFactory
{
    /// <summary>Device names --device accepts.</summary>
    public static readonly string[] DeviceNames = { "auto", "cpu", "cuda", "opencl", "ilgpu-cpu" };

    /// <summary>The backend for <paramref name="device"/>; <paramref name="notice"/> receives a line when auto falls back.</summary>
    public static IBackend Create(string device, int? threads, Action<string>? notice = null)
    {
        switch (device.ToLowerInvariant())
        {
            case "cpu":
                return new CpuBackend(threads);
            case "auto":
                return GpuBackends.TryCreateAuto(notice) ?? new CpuBackend(threads);
            case "cuda":
            case "opencl":
            case "ilgpu-cpu":
                return GpuBackends.Create(device.ToLowerInvariant());
            default:
                throw new ArgumentException($"unknown device '{device}' (expected one of: {string.Join(", ", DeviceNames)})");
        }
    }
}
