using System.CommandLine;
using SpecCore.Cli.Commands;

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
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        return root;
    }
}
