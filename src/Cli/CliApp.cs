using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using SpecCore.Cli.Commands;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Cli;

/// <summary>The <c>speccore</c> command tree.</summary>
public static class CliApp
{
    /// <summary>Builds the root command with every subcommand.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("SpecCore: a self-contained transformer inference runtime for .NET with speculative decoding " +
            "(draft models, prompt lookup, token trees). Loads Hugging Face safetensors checkpoints; runs on the CPU (SIMD) or, " +
            "in JIT builds, on GPUs through ILGPU.");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(TrainHeadCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        foreach (Option option in root.Options)
        {
            if (option is VersionOption version) version.Action = new VersionAction();
        }
        return root;
    }

    /// <summary>What <c>speccore --version</c> prints: the version, the build (JIT or NativeAOT and its instruction-set
    /// baseline), the CPU kernel path this process runs, and the widest one the CPU has.</summary>
    public static string VersionText =>
        $"speccore {typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"} " +
        $"({CpuFeatures.Build}), CPU kernels: {CpuFeatures.KernelPath} (this CPU: {CpuFeatures.HardwareLevel}), int8 dots: {CpuFeatures.Int8Path}";

    private sealed class VersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            (parseResult.InvocationConfiguration.Output ?? Console.Out).WriteLine(VersionText);
            return 0;
        }
    }
}
