using System.Collections.Concurrent;
using System.Text.Json;
using SpecCore.Models.Tokenization;

namespace SpecCore.Tests.Tokenization;

/// <summary>Tokenizers of the shared model folders, loaded once per test run, and their reference files.</summary>
internal static class TokenizerFixtures
{
    private static readonly ConcurrentDictionary<string, Lazy<ITextTokenizer>> s_tokenizers = new();

    /// <summary>Folder of each reference file's tokenizer.</summary>
    public static string FolderOf(string reference) => reference switch
    {
        "tok512" => "stories260K",
        _ => reference,
    };

    public static ITextTokenizer Get(string folder) =>
        s_tokenizers.GetOrAdd(folder, f => new Lazy<ITextTokenizer>(() => TokenizerLoader.Load(TestModels.Path(f)))).Value;

    public static ITextTokenizer ForReference(string reference) => Get(FolderOf(reference));

    public static JsonDocument Reference(string reference) =>
        JsonDocument.Parse(File.ReadAllBytes(TestModels.Path(Path.Combine("reference", reference + ".tokenizer.json"))));

    public static IEnumerable<ReferenceCase> Cases(string reference)
    {
        using JsonDocument doc = Reference(reference);
        foreach (JsonElement c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            JsonElement tokens = c.TryGetProperty("pieces", out var p) ? p : c.GetProperty("tokens");
            yield return new ReferenceCase(
                c.GetProperty("text").GetString()!,
                c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                tokens.EnumerateArray().Select(x => x.GetString()!).ToArray(),
                c.GetProperty("decoded").GetString()!);
        }
    }

    public static string Show(string text) => JsonSerializer.Serialize(text);

    public static string Show(IEnumerable<int> ids) => "[" + string.Join(", ", ids) + "]";
}

internal sealed record ReferenceCase(string Text, int[] Ids, string[] Tokens, string Decoded);
