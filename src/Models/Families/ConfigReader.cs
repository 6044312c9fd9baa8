using System.Text.Json;

namespace SpecCore.Models.Families;

/// <summary>Typed access to the keys of one config.json object, every error naming the file and the key.</summary>
public readonly struct ConfigReader
{
    private readonly JsonElement _root;

    /// <summary>Reads the keys of <paramref name="root"/> (an object), naming <paramref name="source"/> in errors.</summary>
    public ConfigReader(JsonElement root, string source)
    {
        _root = root;
        Source = source;
    }

    /// <summary>The file the keys come from, for messages.</summary>
    public string Source { get; }

    /// <summary>True when the key is present with a value other than null.</summary>
    public bool Has(string key) => _root.TryGetProperty(key, out var e) && e.ValueKind != JsonValueKind.Null;

    /// <summary>The raw element of a key (for nested objects such as rope_scaling).</summary>
    public bool TryGet(string key, out JsonElement value) => _root.TryGetProperty(key, out value);

    /// <summary>A positive integer that must be present.</summary>
    public int RequiredInt(string key) => OptionalInt(key) ?? throw Error($"missing required field '{key}'");

    /// <summary>A positive integer, or null when absent or null.</summary>
    public int? OptionalInt(string key)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
            throw Error($"field '{key}' must be an integer, got {Shorten(e.GetRawText())}");
        if (v <= 0) throw Error($"field '{key}' must be positive, got {v}");
        return v;
    }

    /// <summary>A non-negative integer, or null when absent or null (counts that may be zero).</summary>
    public int? OptionalCount(string key)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v) || v < 0)
            throw Error($"field '{key}' must be a non-negative integer, got {Shorten(e.GetRawText())}");
        return v;
    }

    /// <summary>A boolean, <paramref name="fallback"/> when absent or null.</summary>
    public bool Bool(string key, bool fallback = false)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"field '{key}' must be true or false, got {Shorten(e.GetRawText())}"),
        };
    }

    /// <summary>A finite number, <paramref name="fallback"/> when absent.</summary>
    public double Double(string key, double fallback)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return fallback;
        return Number(e, key);
    }

    /// <summary>A string, null when absent or null.</summary>
    public string? String(string key)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Error($"field '{key}' must be a string, got {Shorten(e.GetRawText())}");
    }

    /// <summary>A list of strings, null when absent or null.</summary>
    public string[]? StringList(string key)
    {
        if (!_root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw Error($"field '{key}' must be a list of strings");
        var list = new List<string>();
        foreach (var item in e.EnumerateArray())
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Error($"field '{key}' must be a list of strings, got {Shorten(item.GetRawText())}"));
        return list.ToArray();
    }

    /// <summary>A finite number read from <paramref name="e"/>, named <paramref name="key"/> in errors.</summary>
    public double Number(JsonElement e, string key)
    {
        if (e.ValueKind != JsonValueKind.Number) throw Error($"field '{key}' must be a number, got {Shorten(e.GetRawText())}");
        double v = e.GetDouble();
        if (!double.IsFinite(v)) throw Error($"field '{key}' must be a finite number, got {Shorten(e.GetRawText())}");
        return v;
    }

    /// <summary>An error about this file: "source: message".</summary>
    public InvalidDataException Error(string message) => new($"{Source}: {message}");

    /// <summary>Keeps a quoted JSON value short enough for a one-line error.</summary>
    internal static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
