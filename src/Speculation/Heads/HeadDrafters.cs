using System.Text.Json;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>The kinds of draft head a file can hold.</summary>
public enum HeadKind
{
    /// <summary>An EAGLE-3 head (one decoder layer over three target features).</summary>
    Eagle3,
    /// <summary>Medusa heads (ResBlocks plus an LM head per future position).</summary>
    Medusa,
}

/// <summary>Builds the drafter of a head file for a target: the kind is read from the config beside it
/// (<c>medusa_num_heads</c>: Medusa; otherwise EAGLE-3).</summary>
public static class HeadDrafters
{
    /// <summary>The kind of head at <paramref name="path"/> (a folder or a safetensors file with config.json beside it).</summary>
    public static HeadKind Detect(string path)
    {
        var (weights, config) = HeadFiles.Resolve(path);
        if (Path.GetFileName(weights).StartsWith("medusa", StringComparison.OrdinalIgnoreCase)) return HeadKind.Medusa;
        if (!File.Exists(config)) throw new InvalidDataException($"{config}: the head's config.json is missing");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(config));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("medusa_num_heads", out _) ? HeadKind.Medusa : HeadKind.Eagle3;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{config}: not valid JSON ({e.Message.Split('.')[0]})");
        }
    }

    /// <summary>The drafter for the head at <paramref name="path"/> on <paramref name="target"/>'s backend, for sequences of
    /// up to <paramref name="capacity"/> tokens; head matrices as <paramref name="weightType"/> (default: as stored).</summary>
    public static IFeatureDrafter Create(string path, TransformerModel target, SamplingOptions sampling, int capacity, DType? weightType = null)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
        return Detect(path) switch
        {
            HeadKind.Medusa => new MedusaDrafter(MedusaHeads.Load(path, target, weightType), capacity, "medusa:" + name),
            _ => new Eagle3Drafter(Eagle3Head.Load(path, target, weightType), capacity, sampling, "eagle3:" + name),
        };
    }
}
