using System.CommandLine;
using SpecCore.Tensors;

namespace SpecCore.Cli;

/// <summary>Options shared by the commands that run a model.</summary>
public static class CommonOptions
{
    /// <summary>--device.</summary>
    public static Option<string> Device() => new("--device")
    {
        Description = "Where to run: auto (CUDA, then OpenCL, then CPU), cpu, cuda, opencl or ilgpu-cpu (ILGPU's CPU accelerator, for testing kernels).",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>--threads.</summary>
    public static Option<int?> Threads() => new("--threads")
    {
        Description = "CPU threads for the CPU backend (default: all cores).",
    };

    /// <summary>--dtype.</summary>
    public static Option<string?> DType() => new("--dtype")
    {
        Description = "Convert the weight matrices at load time: f32, bf16, f16, q8_0 or q4_0 (default: keep the stored dtype).",
    };

    /// <summary>--kv-dtype.</summary>
    public static Option<string?> KvDType() => new("--kv-dtype")
    {
        Description = "KV cache element type: f16 or f32 (default: f16 for models over 256 MB of weights on the cpu backend, else f32).",
    };

    /// <summary>Parses a --kv-dtype value; null picks the default.</summary>
    public static DType? ParseKvDType(string? text) => text?.ToLowerInvariant() switch
    {
        null => null,
        "f16" or "float16" => SpecCore.Tensors.DType.F16,
        "f32" or "float32" => SpecCore.Tensors.DType.F32,
        _ => throw new ArgumentException($"--kv-dtype must be f16 or f32, got '{text}'"),
    };

    /// <summary>Parses a --dtype value; null keeps the stored dtype.</summary>
    public static DType? ParseDType(string? text) => text == null ? null : DTypeInfo.Parse(text);

    /// <summary>Validates a --threads value.</summary>
    public static int? ValidateThreads(int? threads) =>
        threads is < 1 ? throw new ArgumentException($"--threads must be at least 1, got {threads}") : threads;
}
