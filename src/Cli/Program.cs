using System.CommandLine;
using SpecCore.Cli;
using SpecCore.Cli.Commands;

var root = new RootCommand("SpecCore: a self-contained transformer inference runtime for .NET with speculative decoding " +
    "(draft models, prompt lookup, token trees). Loads Hugging Face safetensors checkpoints; runs on the CPU (SIMD) or, " +
    "in JIT builds, on GPUs through ILGPU.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
root.Subcommands.Add(DevicesCommand.Create());

return CommandRunner.Run(root, args);
