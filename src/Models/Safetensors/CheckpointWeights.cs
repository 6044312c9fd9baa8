using System.Text.Json;
using SpecCore.Tensors;

namespace SpecCore.Models.Safetensors;

/// <summary>All weights of a Hugging Face checkpoint folder: a single <c>model.safetensors</c> or the
/// shards listed in <c>model.safetensors.index.json</c>. Owns the memory mappings.</summary>
public sealed class CheckpointWeights : IWeightSource
{
    private readonly List<SafetensorsFile> _files = new();
    private readonly Dictionary<string, HostTensor> _tensors = new(StringComparer.Ordinal);

    /// <summary>The folder the weights came from.</summary>
    public string Directory { get; }

    private CheckpointWeights(string directory) => Directory = directory;

    /// <inheritdoc />
    public string Description => Directory;

    /// <summary>Every tensor by name.</summary>
    public IReadOnlyDictionary<string, HostTensor> Tensors => _tensors;

    /// <summary>Opens the weights in <paramref name="directory"/>.</summary>
    public static CheckpointWeights Open(string directory)
    {
        var weights = new CheckpointWeights(directory);
        try
        {
            string single = Path.Combine(directory, "model.safetensors");
            string index = Path.Combine(directory, "model.safetensors.index.json");
            if (ModelFile.Exists(single))
            {
                weights.Add(SafetensorsFile.Open(single), null);
            }
            else if (ModelFile.Exists(index))
            {
                weights.OpenShards(index);
            }
            else
            {
                throw new FileNotFoundException($"{directory}: no model.safetensors or model.safetensors.index.json found");
            }
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private void OpenShards(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(ModelFile.ReadAllText(indexPath, 64 << 20));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{indexPath}: not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: missing object 'weight_map'");
            var byShard = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                string shard = (p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null) ?? throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] is not a file name");
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new InvalidDataException($"{indexPath}: shard name '{shard}' must be a plain file name in the same folder");
                if (!byShard.TryGetValue(shard, out var names)) byShard[shard] = names = new List<string>();
                names.Add(p.Name);
            }
            foreach (var (shard, names) in byShard)
            {
                var file = SafetensorsFile.Open(Path.Combine(Directory, shard));
                Add(file, names);
            }
        }
    }

    private void Add(SafetensorsFile file, List<string>? expected)
    {
        _files.Add(file);
        if (expected != null)
        {
            foreach (string name in expected)
                if (!file.Tensors.ContainsKey(name))
                    throw new InvalidDataException($"{file.Path}: the index says it holds tensor '{name}', but it does not");
        }
        foreach (var (name, t) in file.Tensors)
        {
            if (!_tensors.TryAdd(name, t))
                throw new InvalidDataException($"{file.Path}: tensor '{name}' is also in another shard");
        }
    }

    /// <inheritdoc />
    public HostTensor Get(string name, params int[] shape)
    {
        if (!_tensors.TryGetValue(name, out HostTensor t))
            throw new InvalidDataException($"{Directory}: tensor '{name}' is missing from the checkpoint");
        if (!t.Shape.AsSpan().SequenceEqual(shape))
            throw new InvalidDataException($"{Directory}: tensor '{name}' has shape {t.ShapeText} but the config implies [{string.Join(", ", shape)}]");
        if (!t.DType.IsFloatingOrQuantized())
            throw new InvalidDataException($"{Directory}: tensor '{name}' is {t.DType.Name()}, a weight must be F32, F16 or BF16");
        return t;
    }

    /// <inheritdoc />
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}
