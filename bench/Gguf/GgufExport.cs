using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Bench.Gguf;

/// <summary>The <c>gguf</c> bench command: the weights <c>speccore bench --synthetic PRESET --dtype D</c> runs (same
/// seed, same stored dtype before conversion), or a model folder's, written as GGUF.</summary>
internal static class GgufExport
{
    public static void Run(string source, DType dtype, string path)
    {
        bool folder = Directory.Exists(source);
        ModelConfig config = folder ? ModelConfig.Load(source) : ModelPresets.Get(source);
        // As LoadedModel.Synthetic: generated F32 unless a 16-bit type is wanted, with the default seed.
        using IWeightSource weights = folder ? CheckpointWeights.Open(source)
            : new SyntheticWeights(config, 1234, dtype is DType.F16 or DType.BF16 ? dtype : DType.F32);
        string name = folder ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(source))) : source;
        GgufWriter.Write(path, name, config, weights, dtype);
        Console.WriteLine($"wrote {path}: {name} ({config.Layers} layers, dim {config.HiddenSize}, vocab {config.VocabSize}), matrices {dtype.Name()}, {new FileInfo(path).Length / 1e6:F1} MB");
    }
}
