using System.Text.Json;

namespace SpecCore.Models.Tokenization;

/// <summary>The settings of a Hugging Face <c>tokenizer_config.json</c> that affect encoding.</summary>
public sealed class TokenizerConfig
{
    /// <summary>The <c>tokenizer_class</c> value, if present.</summary>
    public string? TokenizerClass { get; init; }

    /// <summary>The <c>add_bos_token</c> flag, or null when the file does not set it.</summary>
    public bool? AddBosToken { get; init; }

    /// <summary>The text of <c>bos_token</c>, or null when absent or null.</summary>
    public string? BosToken { get; init; }

    /// <summary>The text of <c>eos_token</c>, or null when absent or null.</summary>
    public string? EosToken { get; init; }

    /// <summary>Reads <c>tokenizer_config.json</c>; returns null when the file does not exist.</summary>
    /// <param name="path">Path of the file.</param>
    /// <exception cref="InvalidDataException">The file is not a JSON object or a field has the wrong type.</exception>
    public static TokenizerConfig? TryLoad(string path)
    {
        if (!ModelFile.Exists(path)) return null;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(ModelFile.ReadUtf8(path, 64 << 20));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object");
            return new TokenizerConfig
            {
                TokenizerClass = root.TryGetProperty("tokenizer_class", out var cls) && cls.ValueKind == JsonValueKind.String ? cls.GetString() : null,
                AddBosToken = ReadBool(root, "add_bos_token", path),
                BosToken = ReadToken(root, "bos_token", path),
                EosToken = ReadToken(root, "eos_token", path),
            };
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON: {e.Message}", e);
        }
    }

    private static bool? ReadBool(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{path}: '{name}' must be true or false"),
        };
    }

    /// <summary>A special token is either a string or an AddedToken object with a <c>content</c> field.</summary>
    private static string? ReadToken(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out JsonElement content) && content.ValueKind == JsonValueKind.String)
            return content.GetString();
        throw new InvalidDataException($"{path}: '{name}' must be a string or an object with 'content'");
    }
}
