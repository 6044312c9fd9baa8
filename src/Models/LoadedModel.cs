using System.Diagnostics;
using SpecCore.Kernels;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>A model folder loaded onto a backend: config, memory-mapped weights and the model built on them.</summary>
public sealed class LoadedModel : IDisposable
{
    private LoadedModel(string name, ModelConfig config, IWeightSource weights, TransformerModel model, double seconds)
    {
        Name = name;
        Config = config;
        Weights = weights;
        Model = model;
        LoadSeconds = seconds;
    }

    /// <summary>Display name (the folder name or preset).</summary>
    public string Name { get; }
    /// <summary>The hyper-parameters.</summary>
    public ModelConfig Config { get; }
    /// <summary>The weights (kept alive for backends that use host memory in place).</summary>
    public IWeightSource Weights { get; }
    /// <summary>The model.</summary>
    public TransformerModel Model { get; }
    /// <summary>Seconds the load took.</summary>
    public double LoadSeconds { get; }

    /// <summary>Loads a Hugging Face model folder (config.json, generation_config.json, safetensors); weights and KV
    /// cache types as <see cref="TransformerModel.Create"/> takes them.</summary>
    public static LoadedModel Load(string directory, IBackend backend, DType? weightType = null, DType? kvType = null)
    {
        long start = Stopwatch.GetTimestamp();
        ModelConfig config = ModelConfig.Load(directory);
        var weights = CheckpointWeights.Open(directory);
        try
        {
            var model = TransformerModel.Create(config, weights, backend, weightType, kvType);
            return new LoadedModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))), config, weights, model, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Builds a seeded random-weight model of a preset shape (see <see cref="ModelPresets"/>).</summary>
    public static LoadedModel Synthetic(string preset, IBackend backend, DType? weightType = null, int seed = 1234, DType? kvType = null)
    {
        long start = Stopwatch.GetTimestamp();
        ModelConfig config = ModelPresets.Get(preset);
        // Generate F32 unless a 16-bit type is wanted, so conversion to q8_0 starts from full precision.
        DType stored = weightType is DType.F16 or DType.BF16 ? weightType.Value : DType.F32;
        var weights = new SyntheticWeights(config, seed, stored);
        try
        {
            var model = TransformerModel.Create(config, weights, backend, weightType, kvType);
            return new LoadedModel(preset, config, weights, model, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Model.Dispose();
        Weights.Dispose();
    }
}
