using System.Text.Json;
using SpecCore.Models.Tokenization;
using Xunit;
using static SpecCore.Tests.Tokenization.TokenizerFixtures;

namespace SpecCore.Tests.Tokenization;

/// <summary>Every case of the reference files in shared/models/reference must match exactly.</summary>
public class ReferenceTokenizerTests
{
    public static TheoryData<string> AllReferences => new() { "tok512", "llama2-tokenizer", "llama3-tokenizer", "qwen3-tokenizer" };

    [Theory]
    [MemberData(nameof(AllReferences))]
    public void EncodeMatchesReferenceIdsAndTokens(string reference)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        var failures = new List<string>();
        Assert.True(Cases(reference).Count() >= 20, $"{reference}: expected at least 20 reference cases");
        foreach (ReferenceCase c in Cases(reference))
        {
            int[] ids = tokenizer.Encode(c.Text, addSpecialTokens: false);
            if (!ids.SequenceEqual(c.Ids))
                failures.Add($"{Show(c.Text)}: ids {Show(ids)}, expected {Show(c.Ids)}");
            string?[] tokens = c.Ids.Select(tokenizer.TokenToString).ToArray();
            if (!tokens.SequenceEqual(c.Tokens))
                failures.Add($"{Show(c.Text)}: tokens {JsonSerializer.Serialize(tokens)}, expected {JsonSerializer.Serialize(c.Tokens)}");
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(AllReferences))]
    public void DecodeMatchesReferenceText(string reference)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases(reference))
        {
            string decoded = tokenizer.Decode(c.Ids);
            if (decoded != c.Decoded) failures.Add($"{Show(c.Text)}: decoded {Show(decoded)}, expected {Show(c.Decoded)}");
            string skipped = tokenizer.Decode(c.Ids, skipSpecialTokens: true);
            string expectedSkipped = c.Ids.Any(id => IsSpecial(tokenizer, id)) ? Strip(c.Decoded, tokenizer, c.Ids) : c.Decoded;
            if (skipped != expectedSkipped) failures.Add($"{Show(c.Text)}: decoded (skip special) {Show(skipped)}, expected {Show(expectedSkipped)}");
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(AllReferences))]
    public void DefaultEncodingAddsWhatTheModelExpects(string reference)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        var failures = new List<string>();
        using JsonDocument doc = Reference(reference);
        if (doc.RootElement.TryGetProperty("with_special_tokens", out JsonElement withSpecial))
        {
            foreach (JsonElement c in withSpecial.EnumerateArray())
            {
                string text = c.GetProperty("text").GetString()!;
                int[] expected = c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
                int[] ids = tokenizer.Encode(text);
                if (!ids.SequenceEqual(expected)) failures.Add($"{Show(text)}: ids {Show(ids)}, expected {Show(expected)}");
            }
        }
        else
        {
            // SentencePiece references: HF LlamaTokenizer puts BOS in front of the SentencePiece ids.
            int bos = doc.RootElement.GetProperty("bos_id").GetInt32();
            Assert.Equal(bos, tokenizer.BosId);
            Assert.True(tokenizer.AddBosByDefault);
            foreach (ReferenceCase c in Cases(reference))
            {
                int[] ids = tokenizer.Encode(c.Text);
                int[] expected = [bos, .. c.Ids];
                if (!ids.SequenceEqual(expected)) failures.Add($"{Show(c.Text)}: ids {Show(ids)}, expected {Show(expected)}");
            }
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(AllReferences))]
    public void StreamingDecodeEqualsDecode(string reference)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases(reference))
        {
            StreamingDecoder stream = tokenizer.CreateStreamingDecoder();
            var chunks = c.Ids.Select(stream.Append).ToList();
            chunks.Add(stream.Flush());
            string joined = string.Concat(chunks);
            if (joined != tokenizer.Decode(c.Ids)) failures.Add($"{Show(c.Text)}: streamed {Show(joined)}, expected {Show(tokenizer.Decode(c.Ids))}");
            // The references' text is valid UTF-8: no chunk may carry half a character.
            if (!c.Decoded.Contains('\uFFFD') && chunks.Any(s => s.Contains('\uFFFD')))
                failures.Add($"{Show(c.Text)}: a chunk holds U+FFFD: {JsonSerializer.Serialize(chunks)}");
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(AllReferences))]
    public void RoundTripReproducesDecodedText(string reference)
    {
        ITextTokenizer tokenizer = ForReference(reference);
        var failures = new List<string>();
        foreach (ReferenceCase c in Cases(reference))
        {
            string back = tokenizer.Decode(tokenizer.Encode(c.Text), skipSpecialTokens: true);
            // Byte-level BPE is lossless; SentencePiece may normalize (tok512 collapses spaces) as "decoded" shows.
            string expected = tokenizer is ByteLevelBpeTokenizer ? StripSpecialText(c.Text, tokenizer) : c.Decoded;
            if (back != expected) failures.Add($"{Show(c.Text)}: round trip {Show(back)}, expected {Show(expected)}");
        }
        Assert.True(failures.Count == 0, $"{reference}: {failures.Count} failing case(s):\n" + string.Join("\n", failures));
    }

    private static bool IsSpecial(ITextTokenizer tokenizer, int id) =>
        tokenizer.Decode([id], skipSpecialTokens: true).Length == 0 && tokenizer.Decode([id]).Length > 0 && tokenizer is ByteLevelBpeTokenizer;

    /// <summary>The decoded text with the special tokens among <paramref name="ids"/> removed.</summary>
    private static string Strip(string decoded, ITextTokenizer tokenizer, int[] ids)
    {
        foreach (int id in ids.Where(id => IsSpecial(tokenizer, id))) decoded = decoded.Replace(tokenizer.TokenToString(id)!, "");
        return decoded;
    }

    private static string StripSpecialText(string text, ITextTokenizer tokenizer) =>
        Strip(text, tokenizer, tokenizer.Encode(text, addSpecialTokens: false));
}
