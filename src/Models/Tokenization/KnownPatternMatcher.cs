using System.Globalization;
using System.Text;

namespace SpecCore.Models.Tokenization;

/// <summary>
/// Hand-written matchers for the pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2/3, working on code points.
/// .NET's Regex sees UTF-16 units, so a letter or digit outside the BMP (e.g. U+20000) is two surrogates
/// and not <c>\p{L}</c>; Rust's and JavaScript's engines, which produced the references, see one letter.
/// These matchers follow the code-point semantics and are also several times faster than the interpreter.
/// </summary>
internal sealed class KnownPatternMatcher : PatternMatcher
{
    /// <summary>Llama 3 / GPT-4 (cl100k): numbers in groups of up to three digits.</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2 / Qwen3: single digits.</summary>
    public const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private enum Kind : byte { Other, Letter, Number, Space }

    private readonly bool _gpt2;       // GPT-2 pattern: case-sensitive contractions, " ?" prefixes, no newline rules
    private readonly int _maxDigits;   // longest \p{N} run in one match

    private KnownPatternMatcher(bool gpt2, int maxDigits)
    {
        _gpt2 = gpt2;
        _maxDigits = maxDigits;
    }

    /// <summary>A matcher for <paramref name="pattern"/> if it is one of the known patterns, else null.</summary>
    public static KnownPatternMatcher? TryCreate(string pattern) => pattern switch
    {
        Llama3Pattern => new KnownPatternMatcher(gpt2: false, maxDigits: 3),
        QwenPattern => new KnownPatternMatcher(gpt2: false, maxDigits: 1),
        PreTokenizerStep.Gpt2Pattern => new KnownPatternMatcher(gpt2: true, maxDigits: int.MaxValue),
        _ => null,
    };

    public override IEnumerable<(int Start, int Length)> Matches(string text)
    {
        // [n] code points, their classes, and [n + 1] UTF-16 offsets.
        int n = 0;
        var cps = new int[text.Length];
        var offsets = new int[text.Length + 1];
        for (int i = 0; i < text.Length; i++)
        {
            offsets[n] = i;
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                cp = char.ConvertToUtf32(text[i], text[++i]);
            cps[n++] = cp;
        }
        offsets[n] = text.Length;
        var kinds = new Kind[n];
        for (int i = 0; i < n; i++) kinds[i] = Classify(cps[i]);

        var result = new List<(int, int)>();
        for (int i = 0; i < n;)
        {
            int end = MatchAt(cps, kinds, n, i);
            result.Add((offsets[i], offsets[end] - offsets[i]));
            i = end;
        }
        return result;
    }

    /// <summary>End (exclusive, in code points) of the match starting at <paramref name="i"/>; always past i.</summary>
    private int MatchAt(int[] cps, Kind[] kinds, int n, int i)
    {
        int cp = cps[i];
        Kind kind = kinds[i];

        // Contractions: 's 't 're 've 'm 'll 'd (case-insensitive except in GPT-2).
        if (cp == '\'' && i + 1 < n)
        {
            int c1 = Fold(cps[i + 1]);
            if (c1 is 's' or 't' or 'm' or 'd') return i + 2;
            if (i + 2 < n)
            {
                int c2 = Fold(cps[i + 2]);
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return i + 3;
            }
        }

        if (_gpt2)
        {
            // " ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+"
            int j = cp == ' ' && i + 1 < n ? i + 1 : i;
            Kind k = kinds[j];
            if (j > i && k == Kind.Space) j = i; // the space is not a prefix here
            k = kinds[j];
            if (k != Kind.Space) return Run(kinds, n, j, k, int.MaxValue);
        }
        else
        {
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (kind == Kind.Letter) return Run(kinds, n, i, Kind.Letter, int.MaxValue);
            if (kind is Kind.Other or Kind.Space && cp is not ('\r' or '\n') && i + 1 < n && kinds[i + 1] == Kind.Letter)
                return Run(kinds, n, i + 1, Kind.Letter, int.MaxValue);
            // \p{N}{1,k}
            if (kind == Kind.Number) return Run(kinds, n, i, Kind.Number, _maxDigits);
            // " ?[^\s\p{L}\p{N}]+[\r\n]*"
            int j = cp == ' ' && i + 1 < n && kinds[i + 1] == Kind.Other ? i + 1 : i;
            if (kinds[j] == Kind.Other)
            {
                int end = Run(kinds, n, j, Kind.Other, int.MaxValue);
                while (end < n && cps[end] is '\r' or '\n') end++;
                return end;
            }
        }

        // Whitespace run [i, runEnd).
        int runEnd = Run(kinds, n, i, Kind.Space, int.MaxValue);
        if (!_gpt2)
        {
            // \s*[\r\n]+ : up to the last line break of the run.
            for (int k = runEnd - 1; k >= i; k--)
                if (cps[k] is '\r' or '\n') return k + 1;
        }
        // \s+(?!\S) then \s+
        if (runEnd == n || runEnd - 1 == i) return runEnd;
        return runEnd - 1;
    }

    private static int Run(Kind[] kinds, int n, int start, Kind kind, int max)
    {
        int end = start;
        while (end < n && kinds[end] == kind && end - start < max) end++;
        return end;
    }

    private int Fold(int cp)
    {
        if (_gpt2) return cp;
        if (cp is >= 'A' and <= 'Z') return cp + 32;
        return cp == 0x17F ? 's' : cp; // ſ folds to s
    }

    private static Kind Classify(int cp)
    {
        if (cp is >= 0xD800 and <= 0xDFFF) return Kind.Other; // lone surrogate
        if (cp < 0x80)
        {
            if (cp is >= 'a' and <= 'z' or >= 'A' and <= 'Z') return Kind.Letter;
            if (cp is >= '0' and <= '9') return Kind.Number;
            if (cp is ' ' or >= '\t' and <= '\r') return Kind.Space;
            return Kind.Other;
        }
        var rune = new Rune(cp);
        if (Rune.IsWhiteSpace(rune)) return Kind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }
}
