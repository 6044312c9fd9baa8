using System.CommandLine;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore devices</c>: what backends and accelerators this build can use.</summary>
public static class DevicesCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("devices", "List the devices SpecCore can run on (CPU, and what ILGPU sees: CUDA, OpenCL), and why any was skipped.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"cpu: {Environment.ProcessorCount} cores, {CpuFeatures.KernelPath} kernels ({CpuFeatures.Build} build; this CPU: {CpuFeatures.HardwareLevel})");
            Console.WriteLine(GpuBackends.Describe());
            return 0;
        });
        return command;
    }
}
