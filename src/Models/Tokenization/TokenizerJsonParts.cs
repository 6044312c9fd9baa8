using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SpecCore.Models.Tokenization;

/// <summary>GPT-2's reversible map between bytes and printable characters (byte-level BPE).</summary>
internal static class ByteLevelAlphabet
{
    /// <summary>[256] the character standing for each byte.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>[324] the byte a character stands for, or -1.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[324];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> to byte-level characters.</summary>
    public static string Map(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (int i = 0; i < b.Length; i++) span[i] = ByteToChar[b[i]];
        });
    }
}

/// <summary>Helpers that read tokenizer.json with clear errors.</summary>
internal static class Json
{
    public static JsonElement Require(JsonElement obj, string property, JsonValueKind kind, string where)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(property, out JsonElement value))
            throw new InvalidDataException($"{where}: missing '{property}'");
        if (value.ValueKind != kind) throw new InvalidDataException($"{where}: '{property}' must be {Describe(kind)}, found {Describe(value.ValueKind)}");
        return value;
    }

    public static string RequireString(JsonElement obj, string property, string where) =>
        Require(obj, property, JsonValueKind.String, where).GetString()!;

    public static bool OptionalBool(JsonElement obj, string property, bool fallback, string where)
    {
        if (!obj.TryGetProperty(property, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return fallback;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{where}: '{property}' must be true or false"),
        };
    }

    public static string? OptionalString(JsonElement obj, string property, string where)
    {
        if (!obj.TryGetProperty(property, out JsonElement value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{where}: '{property}' must be a string");
        return value.GetString();
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

/// <summary>A tokenizer.json normalizer: text in, text out.</summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    public static TextNormalizer? Parse(JsonElement element, string where)
    {
        if (element.ValueKind == JsonValueKind.Null) return null;
        string type = Json.RequireString(element, "type", where);
        return type switch
        {
            "NFC" => new Delegated(UnicodeNormalizer.ToNfc),
            "NFD" => new Delegated(UnicodeNormalizer.ToNfd),
            "Lowercase" => new Delegated(s => s.ToLowerInvariant()),
            "Prepend" => new Prepend(Json.RequireString(element, "prepend", where)),
            "Replace" => new Replace(PatternRegex(element, where), Json.RequireString(element, "content", where)),
            "Sequence" => new Sequence(Json.Require(element, "normalizers", JsonValueKind.Array, where)
                .EnumerateArray().Select(e => Parse(e, where)).OfType<TextNormalizer>().ToArray()),
            _ => throw new InvalidDataException($"{where}: normalizer type '{type}' is not supported"),
        };
    }

    /// <summary>A Replace/Split "pattern": {"String": literal} or {"Regex": pattern}.</summary>
    public static Regex PatternRegex(JsonElement owner, string where)
    {
        JsonElement pattern = Json.Require(owner, "pattern", JsonValueKind.Object, where);
        if (pattern.TryGetProperty("String", out JsonElement literal) && literal.ValueKind == JsonValueKind.String)
            return new Regex(Regex.Escape(literal.GetString()!), RegexOptions.CultureInvariant);
        if (pattern.TryGetProperty("Regex", out JsonElement regex) && regex.ValueKind == JsonValueKind.String)
        {
            try
            {
                return new Regex(regex.GetString()!, RegexOptions.CultureInvariant);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{where}: regex pattern is not usable: {e.Message}", e);
            }
        }
        throw new InvalidDataException($"{where}: 'pattern' must hold a 'String' or 'Regex'");
    }

    private sealed class Delegated(Func<string, string> f) : TextNormalizer
    {
        public override string Normalize(string text) => f(text);
    }

    private sealed class Prepend(string prefix) : TextNormalizer
    {
        public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
    }

    private sealed class Replace(Regex pattern, string content) : TextNormalizer
    {
        public override string Normalize(string text) => pattern.Replace(text, content.Replace("$", "$$"));
    }

    private sealed class Sequence(TextNormalizer[] steps) : TextNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (TextNormalizer step in steps) text = step.Normalize(text);
            return text;
        }
    }
}

/// <summary>A tokenizer.json pre-tokenizer step: splits each piece further (and may rewrite it).</summary>
internal abstract class PreTokenizerStep
{
    /// <summary>GPT-2's pattern, used by ByteLevel with use_regex.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public abstract void Apply(string piece, List<string> output);

    /// <summary>Whether the step maps text to byte-level characters.</summary>
    public virtual bool IsByteLevel => false;

    public static List<PreTokenizerStep> Parse(JsonElement element, string where)
    {
        var steps = new List<PreTokenizerStep>();
        if (element.ValueKind != JsonValueKind.Null) ParseInto(element, where, steps);
        return steps;
    }

    private static void ParseInto(JsonElement element, string where, List<PreTokenizerStep> steps)
    {
        string type = Json.RequireString(element, "type", where);
        switch (type)
        {
            case "Sequence":
                foreach (JsonElement e in Json.Require(element, "pretokenizers", JsonValueKind.Array, where).EnumerateArray())
                    ParseInto(e, where, steps);
                break;
            case "Split":
                steps.Add(new Split(
                    PatternMatcher.Create(element, where),
                    Json.RequireString(element, "behavior", where),
                    Json.OptionalBool(element, "invert", false, where), where));
                break;
            case "ByteLevel":
                steps.Add(new ByteLevel(
                    Json.OptionalBool(element, "add_prefix_space", true, where),
                    Json.OptionalBool(element, "use_regex", true, where)));
                break;
            default:
                throw new InvalidDataException($"{where}: pre-tokenizer type '{type}' is not supported");
        }
    }

    /// <summary>Splits on a pattern with one of Hugging Face's delimiter behaviours.</summary>
    private sealed class Split : PreTokenizerStep
    {
        private readonly PatternMatcher _matcher;
        private readonly string _behavior;
        private readonly bool _invert;

        public Split(PatternMatcher matcher, string behavior, bool invert, string where)
        {
            if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
                throw new InvalidDataException($"{where}: Split behavior '{behavior}' is not supported");
            _matcher = matcher;
            _behavior = behavior;
            _invert = invert;
        }

        public override void Apply(string piece, List<string> output)
        {
            if (piece.Length == 0) return;
            // (start, end, isMatch) over the whole piece, as Hugging Face's find_matches.
            var parts = new List<(int Start, int End, bool IsMatch)>();
            int previous = 0;
            foreach ((int start, int length) in _matcher.Matches(piece))
            {
                if (length == 0) continue;
                if (start > previous) parts.Add((previous, start, _invert));
                parts.Add((start, start + length, !_invert));
                previous = start + length;
            }
            if (previous < piece.Length) parts.Add((previous, piece.Length, _invert));

            var merged = new List<(int Start, int End, bool IsMatch)>(parts.Count);
            bool previousMatch = false;
            switch (_behavior)
            {
                case "Isolated":
                    merged = parts;
                    break;
                case "Removed":
                    merged.AddRange(parts.Where(p => !p.IsMatch));
                    break;
                case "MergedWithPrevious":
                    foreach (var p in parts)
                    {
                        if (p.IsMatch && !previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, p.End, false);
                        else merged.Add((p.Start, p.End, p.IsMatch && !previousMatch));
                        previousMatch = p.IsMatch;
                    }
                    break;
                case "MergedWithNext":
                    for (int i = parts.Count - 1; i >= 0; i--)
                    {
                        var p = parts[i];
                        if (p.IsMatch && !previousMatch && merged.Count > 0) merged[^1] = (p.Start, merged[^1].End, false);
                        else merged.Add((p.Start, p.End, p.IsMatch && !previousMatch));
                        previousMatch = p.IsMatch;
                    }
                    merged.Reverse();
                    break;
                case "Contiguous":
                    foreach (var p in parts)
                    {
                        if (p.IsMatch == previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, p.End, false);
                        else merged.Add((p.Start, p.End, false));
                        previousMatch = p.IsMatch;
                    }
                    break;
            }
            foreach (var p in merged)
                if (p.End > p.Start) output.Add(piece[p.Start..p.End]);
        }
    }

    /// <summary>Optionally prefixes a space and splits with GPT-2's pattern, then maps bytes to characters.</summary>
    private sealed class ByteLevel(bool addPrefixSpace, bool useRegex) : PreTokenizerStep
    {
        private static readonly Lazy<PatternMatcher> s_gpt2 = new(() => PatternMatcher.FromPattern(Gpt2Pattern));

        public override bool IsByteLevel => true;

        public override void Apply(string piece, List<string> output)
        {
            if (piece.Length == 0) return;
            if (addPrefixSpace && piece[0] != ' ') piece = " " + piece;
            if (!useRegex)
            {
                output.Add(ByteLevelAlphabet.Map(piece));
                return;
            }
            foreach ((int start, int length) in s_gpt2.Value.Matches(piece))
                if (length > 0) output.Add(ByteLevelAlphabet.Map(piece.Substring(start, length)));
        }
    }
}

/// <summary>Finds the matches of a Split pattern in a piece of text.</summary>
internal abstract class PatternMatcher
{
    public abstract IEnumerable<(int Start, int Length)> Matches(string text);

    public static PatternMatcher Create(JsonElement owner, string where)
    {
        JsonElement pattern = Json.Require(owner, "pattern", JsonValueKind.Object, where);
        if (pattern.TryGetProperty("Regex", out JsonElement regex) && regex.ValueKind == JsonValueKind.String)
            return FromPattern(regex.GetString()!, where);
        return new RegexMatcher(TextNormalizer.PatternRegex(owner, where));
    }

    /// <summary>A matcher for a regex pattern: a hand-written one for the known BPE patterns, else .NET's Regex.</summary>
    public static PatternMatcher FromPattern(string pattern, string where = "pattern")
    {
        if (KnownPatternMatcher.TryCreate(pattern) is { } known) return known;
        try
        {
            return new RegexMatcher(new Regex(pattern, RegexOptions.CultureInvariant));
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{where}: regex pattern is not usable: {e.Message}", e);
        }
    }

    /// <summary>.NET's Regex (UTF-16 semantics: characters outside the BMP are two surrogates).</summary>
    internal sealed class RegexMatcher(Regex regex) : PatternMatcher
    {
        public override IEnumerable<(int Start, int Length)> Matches(string text)
        {
            for (Match m = regex.Match(text); m.Success; m = m.NextMatch())
                yield return (m.Index, m.Length);
        }
    }
}

/// <summary>What a post-processor adds around a single sequence when special tokens are requested.</summary>
internal sealed class PostProcessor
{
    public int[] Prefix { get; private init; } = [];
    public int[] Suffix { get; private init; } = [];

    public static PostProcessor Parse(JsonElement element, Func<string, int?> tokenToId, string where)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (element.ValueKind != JsonValueKind.Null) ParseInto(element, tokenToId, where, prefix, suffix);
        return new PostProcessor { Prefix = prefix.ToArray(), Suffix = suffix.ToArray() };
    }

    private static void ParseInto(JsonElement element, Func<string, int?> tokenToId, string where, List<int> prefix, List<int> suffix)
    {
        string type = Json.RequireString(element, "type", where);
        switch (type)
        {
            case "ByteLevel":
                break;
            case "Sequence":
                foreach (JsonElement e in Json.Require(element, "processors", JsonValueKind.Array, where).EnumerateArray())
                    ParseInto(e, tokenToId, where, prefix, suffix);
                break;
            case "TemplateProcessing":
            {
                JsonElement specials = element.TryGetProperty("special_tokens", out var s) ? s : default;
                bool seenSequence = false;
                foreach (JsonElement item in Json.Require(element, "single", JsonValueKind.Array, where).EnumerateArray())
                {
                    if (item.TryGetProperty("Sequence", out _))
                    {
                        seenSequence = true;
                        continue;
                    }
                    JsonElement special = Json.Require(item, "SpecialToken", JsonValueKind.Object, where + " post_processor.single");
                    string name = Json.RequireString(special, "id", where);
                    List<int> ids = [];
                    if (specials.ValueKind == JsonValueKind.Object && specials.TryGetProperty(name, out JsonElement entry)
                        && entry.TryGetProperty("ids", out JsonElement idArray) && idArray.ValueKind == JsonValueKind.Array)
                        ids.AddRange(idArray.EnumerateArray().Select(x => x.GetInt32()));
                    else if (tokenToId(name) is { } id)
                        ids.Add(id);
                    else
                        throw new InvalidDataException($"{where}: post_processor special token '{name}' is unknown");
                    (seenSequence ? suffix : prefix).AddRange(ids);
                }
                break;
            }
            case "BertProcessing" or "RobertaProcessing":
                prefix.Add(Json.Require(element, "cls", JsonValueKind.Array, where)[1].GetInt32());
                suffix.Add(Json.Require(element, "sep", JsonValueKind.Array, where)[1].GetInt32());
                break;
            default:
                throw new InvalidDataException($"{where}: post_processor type '{type}' is not supported");
        }
    }
}
