using SpecCore.Models.Tokenization;
using static SpecCore.Tests.Tokenization.TokenizerFixtures;

namespace SpecCore.Tests.Tokenization;

/// <summary>Generated text leaves special tokens out: streaming with skipSpecialTokens gives the reference decode of
/// the text around them (what Hugging Face's <c>decode(ids, skip_special_tokens=True)</c> and SentencePiece give).</summary>
public class SkipSpecialTests
{
    /// <summary>Per reference: special ids put around and between the reference cases (control pieces for SentencePiece,
    /// added tokens marked "special" for tokenizer.json), and one added token that is not special and must stay.</summary>
    public static TheoryData<string, int[], int?, string?> Specials => new()
    {
        { "tok512", new[] { 1, 2 }, null, null },                                   // <s>, </s>
        { "llama2-tokenizer", new[] { 1, 2 }, null, null },
        { "llama3-tokenizer", new[] { 128000, 128009, 128001, 128006 }, null, null }, // <|begin_of_text|>, <|eot_id|>, <|end_of_text|>, <|start_header_id|>
        { "qwen3-tokenizer", new[] { 151644, 151645, 151643 }, 151667, "<think>" },   // <|im_start|>, <|im_end|>, <|endoftext|>; <think> is not special
    };

    [Theory]
    [MemberData(nameof(Specials))]
    public void StreamingWithoutSpecialTokensGivesTheReferenceText(string reference, int[] specials, int? plainAdded, string? plainAddedText)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        bool byteLevel = tokenizer is ByteLevelBpeTokenizer;
        var failures = new List<string>();
        var cases = Cases(reference).Where(c => c.Ids.Length > 0 && !c.Decoded.Contains("<|") && !c.Decoded.Contains("<s>")).ToList();
        Assert.True(cases.Count >= 15);
        for (int i = 0; i < cases.Count; i++)
        {
            ReferenceCase c = cases[i];
            int s = specials[i % specials.Length], t = specials[(i + 1) % specials.Length];
            int[] ids;
            string expected;
            if (byteLevel)
            {
                // Byte-level BPE decodes token by token, so two cases joined decode to their two texts joined.
                ReferenceCase next = cases[(i + 1) % cases.Count];
                int[] middle = plainAdded is int p ? [t, p] : [t];
                ids = [s, .. c.Ids, .. middle, .. next.Ids, s];
                expected = c.Decoded + plainAddedText + next.Decoded;
            }
            else
            {
                // SentencePiece: control pieces decode to nothing and do not count for the leading-space rule.
                ids = [s, .. c.Ids, t];
                expected = c.Decoded;
            }

            StreamingDecoder stream = tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
            Assert.True(stream.SkipSpecialTokens);
            var chunks = ids.Select(stream.Append).ToList();
            chunks.Add(stream.Flush());
            string streamed = string.Concat(chunks);
            if (streamed != expected) failures.Add($"{Show(c.Text)}: streamed {Show(streamed)}, expected {Show(expected)}");
            string decoded = tokenizer.Decode(ids, skipSpecialTokens: true);
            if (decoded != expected) failures.Add($"{Show(c.Text)}: decoded {Show(decoded)}, expected {Show(expected)}");

            // Kept, they show as their text.
            StreamingDecoder keep = tokenizer.CreateStreamingDecoder();
            string kept = string.Concat(ids.Select(keep.Append)) + keep.Flush();
            if (kept != tokenizer.Decode(ids) || !kept.Contains(tokenizer.TokenToString(s)!))
                failures.Add($"{Show(c.Text)}: kept {Show(kept)}");
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }
}
