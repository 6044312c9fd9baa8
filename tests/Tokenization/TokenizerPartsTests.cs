using System.Text;
using System.Text.RegularExpressions;
using SpecCore.Models.Tokenization;
using Xunit;

namespace SpecCore.Tests.Tokenization;

/// <summary>The NFC normalizer and the hand-written pre-tokenizer matchers.</summary>
public class TokenizerPartsTests
{
    public static TheoryData<string> KnownPatterns => new()
    {
        KnownPatternMatcher.Llama3Pattern, KnownPatternMatcher.QwenPattern, PreTokenizerStep.Gpt2Pattern,
    };

    [Theory]
    [MemberData(nameof(KnownPatterns))]
    public void KnownPatternMatchesRegexOnBmpText(string pattern)
    {
        PatternMatcher known = PatternMatcher.FromPattern(pattern);
        Assert.IsType<KnownPatternMatcher>(known);
        var regex = new PatternMatcher.RegexMatcher(new Regex(pattern, RegexOptions.CultureInvariant));
        // Characters that exercise every alternative: contractions, letters, digits, punctuation,
        // all kinds of whitespace and line breaks, non-ASCII letters/digits/marks.
        string alphabet = "aZsStTmMdDrReEvVlL'’ 0123456789٣Ⅻ½\t\n\r \u00A0\u2003\u3000\u0085.,!?-_()[]{}<>|#*&@é中ßΣ\u0301\u200D";
        var random = new Random(12345);
        var failures = new List<string>();
        for (int trial = 0; trial < 3000 && failures.Count < 10; trial++)
        {
            var sb = new StringBuilder();
            int length = random.Next(1, 24);
            for (int i = 0; i < length; i++) sb.Append(alphabet[random.Next(alphabet.Length)]);
            string text = sb.ToString();
            var expected = regex.Matches(text).ToList();
            var actual = known.Matches(text).ToList();
            if (!expected.SequenceEqual(actual))
                failures.Add($"{TokenizerFixtures.Show(text)}: {string.Join(",", actual)} vs regex {string.Join(",", expected)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void KnownPatternTreatsLettersOutsideTheBmpAsLetters()
    {
        // U+20000 (CJK Ext. B) and U+1D400 (math bold A) are \p{L} for Rust/JS regex engines, U+1D7CE is \p{N};
        // an emoji is one symbol, so "🙂R" is one [^\r\n\p{L}\p{N}]?\p{L}+ match (.NET's Regex would split the
        // surrogate pair there and break the emoji's UTF-8).
        PatternMatcher matcher = PatternMatcher.FromPattern(KnownPatternMatcher.Llama3Pattern);
        string text = "a\U00020000b \U0001D400x 1\U0001D7CE x\U0001F642Rocket";
        var pieces = matcher.Matches(text).Select(m => text.Substring(m.Start, m.Length)).ToArray();
        Assert.Equal(new[] { "a\U00020000b", " \U0001D400x", " ", "1\U0001D7CE", " x", "\U0001F642Rocket" }, pieces);
    }

    [Theory]
    [InlineData("e\u0301", "\u00E9")]
    [InlineData("A\u030A", "\u00C5")]
    [InlineData("\u212B", "\u00C5")]                       // singleton decomposition (Angstrom sign)
    [InlineData("q\u0307\u0323", "q\u0323\u0307")]          // canonical reordering, no composite
    [InlineData("\u1E0B\u0323", "\u1E0D\u0307")]            // d + dot above + dot below recomposes around the order
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]            // Hangul L V T
    [InlineData("\uFB01", "\uFB01")]                        // compatibility only: unchanged in NFC
    [InlineData("\u0344", "\u0308\u0301")]                  // excluded from composition
    [InlineData("plain ASCII", "plain ASCII")]
    [InlineData("\U0001D15E", "\U0001D157\U0001D165")]      // composition-excluded musical symbol
    public void NfcMatchesUnicode(string input, string expected)
    {
        Assert.Equal(expected, UnicodeNormalizer.ToNfc(input));
    }

    [Fact]
    public void QwenEncodesDecomposedTextLikeComposedText()
    {
        ITextTokenizer qwen = TokenizerFixtures.Get("qwen3-tokenizer");
        Assert.Equal(qwen.Encode("caf\u00E9 r\u00E9sum\u00E9", false), qwen.Encode("cafe\u0301 re\u0301sume\u0301", false));
        // Llama 3 has no normalizer: the combining accent stays a separate character.
        ITextTokenizer llama3 = TokenizerFixtures.Get("llama3-tokenizer");
        Assert.NotEqual(llama3.Encode("caf\u00E9", false), llama3.Encode("cafe\u0301", false));
    }
}
