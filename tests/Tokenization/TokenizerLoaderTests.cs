using System.Text;
using SpecCore.Models.Tokenization;
using Xunit;

namespace SpecCore.Tests.Tokenization;

/// <summary>What the loader picks and reads, and the errors it gives for missing or malformed files.</summary>
public sealed class TokenizerLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("speccore-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("stories260K", typeof(SentencePieceTokenizer), 512, 1, 2, true)]
    [InlineData("llama2-tokenizer", typeof(SentencePieceTokenizer), 32000, 1, 2, true)]
    [InlineData("llama3-tokenizer", typeof(ByteLevelBpeTokenizer), 128256, 128000, 128001, false)]
    [InlineData("qwen3-tokenizer", typeof(ByteLevelBpeTokenizer), 151669, null, 151645, false)]
    public void LoadsTheModelsTokenizer(string folder, Type type, int vocabSize, int? bos, int eos, bool addBos)
    {
        ITextTokenizer tokenizer = TokenizerFixtures.Get(folder);
        Assert.IsType(type, tokenizer);
        Assert.Equal(vocabSize, tokenizer.VocabSize);
        Assert.Equal(bos, tokenizer.BosId);
        Assert.Equal(new[] { eos }, tokenizer.EosIds);
        Assert.Equal(addBos, tokenizer.AddBosByDefault);
        Assert.Null(tokenizer.TokenToString(vocabSize));
        Assert.Null(tokenizer.TokenToString(-1));
    }

    [Fact]
    public void EmptyPromptIsBosOnlyForSentencePiece()
    {
        Assert.Equal(new[] { 1 }, TokenizerFixtures.Get("stories260K").Encode(""));
        Assert.Empty(TokenizerFixtures.Get("llama3-tokenizer").Encode(""));
    }

    [Fact]
    public void SpecialTokensDecodeAsTextUnlessSkipped()
    {
        ITextTokenizer sp = TokenizerFixtures.Get("stories260K");
        int[] ids = [.. sp.Encode("Hello world"), 2];
        Assert.Equal("<s>Hello world</s>", sp.Decode(ids));
        Assert.Equal("Hello world", sp.Decode(ids, skipSpecialTokens: true));

        ITextTokenizer qwen = TokenizerFixtures.Get("qwen3-tokenizer");
        int[] chat = qwen.Encode("<|im_start|>user\nhi<think></think><|im_end|>");
        Assert.Equal("user\nhi<think></think>", qwen.Decode(chat, skipSpecialTokens: true)); // <think> is not special
    }

    [Fact]
    public void StreamingHoldsSplitCharactersUntilComplete()
    {
        // tok512 has no piece for 🙂: it is four byte-fallback pieces <0xF0><0x9F><0x99><0x82>.
        ITextTokenizer sp = TokenizerFixtures.Get("stories260K");
        int[] ids = sp.Encode("Hi 🙂!", addSpecialTokens: true);
        StreamingDecoder stream = sp.CreateStreamingDecoder();
        var chunks = ids.Select(stream.Append).ToList();
        Assert.Equal("", stream.Flush());
        Assert.Equal("<s>Hi 🙂!", string.Concat(chunks)); // BOS shows (not skipped); the dummy-prefix space does not
        Assert.Contains("🙂", chunks);      // the emoji arrives whole, in one chunk
        Assert.True(chunks.Count(c => c.Length == 0) >= 3);

        // Byte-level BPE: 🚀 in Llama 3 is three tokens ðŁ, ļ, Ģ.
        ITextTokenizer llama3 = TokenizerFixtures.Get("llama3-tokenizer");
        StreamingDecoder s3 = llama3.CreateStreamingDecoder();
        Assert.Equal(new[] { "", "", "🚀" }, new[] { 9468, 248, 222 }.Select(s3.Append));

        // A character that never completes comes out of Flush as U+FFFD, as Decode gives it.
        StreamingDecoder s4 = llama3.CreateStreamingDecoder();
        Assert.Equal("", s4.Append(9468));
        Assert.Equal(llama3.Decode([9468]), s4.Flush());
        Assert.Equal("\uFFFD", llama3.Decode([9468]));
    }

    [Fact]
    public void LongTextRoundTrips()
    {
        string text = string.Concat(Enumerable.Repeat("Ünïcödé text, 中文, emoji 🙂👩‍👧 and  spaces\n\tand numbers 1234567. ", 200));
        foreach (string folder in new[] { "llama2-tokenizer", "llama3-tokenizer", "qwen3-tokenizer" })
        {
            ITextTokenizer tokenizer = TokenizerFixtures.Get(folder);
            int[] ids = tokenizer.Encode(text, addSpecialTokens: false);
            Assert.Equal(text, tokenizer.Decode(ids));
            StreamingDecoder stream = tokenizer.CreateStreamingDecoder();
            Assert.Equal(text, string.Concat(ids.Select(stream.Append)) + stream.Flush());
        }
    }

    [Fact]
    public void MissingFolderOrFilesAreReported()
    {
        var missing = Assert.Throws<DirectoryNotFoundException>(() => TokenizerLoader.Load(Path.Combine(_dir, "nope")));
        Assert.Contains("nope", missing.Message);
        var none = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("tokenizer.json or tokenizer.model", none.Message);
    }

    public static TheoryData<string, string> MalformedJson => new()
    {
        { "{ not json", "invalid JSON" },
        { "[]", "expected a JSON object" },
        { """{"added_tokens": []}""", "missing 'model'" },
        { """{"model": {"type": "BPE", "merges": []}}""", "missing 'vocab'" },
        { """{"model": {"type": "WordPiece", "vocab": {}}}""", "model type 'WordPiece' is not supported" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}, "pre_tokenizer": {"type": "ByteLevel"}}""", "merge 0 'a c' uses a token missing from model.vocab" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}}""", "produces a token missing" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["ab"]}, "pre_tokenizer": {"type": "ByteLevel"}}""", "not two tokens" },
        { """{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""", "invalid id" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}""", "pre-tokenizer type 'Metaspace' is not supported" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}}""", "regex pattern is not usable" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "ByteLevel"}}""", "normalizer type 'NFKC' is not supported" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1}], "pre_tokenizer": {"type": "ByteLevel"}}""", "missing 'content'" },
    };

    [Theory]
    [MemberData(nameof(MalformedJson))]
    public void MalformedTokenizerJsonGivesAClearError(string json, string expected)
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MalformedTokenizerModelGivesAClearError()
    {
        string path = Path.Combine(_dir, "tokenizer.model");
        byte[] good = File.ReadAllBytes(TestModels.Path("stories260K/tokenizer.model"));

        File.WriteAllBytes(path, good[..(good.Length / 2)]);
        var truncated = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, truncated.Message);
        Assert.Contains("malformed protobuf", truncated.Message);

        File.WriteAllBytes(path, Encoding.UTF8.GetBytes("this is not a protobuf"));
        var text = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, text.Message);

        File.WriteAllBytes(path, []);
        var empty = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains("is empty or not a regular file", empty.Message);
    }

    [Fact]
    public void MalformedTokenizerConfigGivesAClearError()
    {
        File.Copy(TestModels.Path("stories260K/tokenizer.model"), Path.Combine(_dir, "tokenizer.model"));
        string path = Path.Combine(_dir, "tokenizer_config.json");
        File.WriteAllText(path, """{"add_bos_token": "yes"}""");
        var e = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(_dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("add_bos_token", e.Message);

        File.WriteAllText(path, """{"add_bos_token": false}""");
        ITextTokenizer noBos = TokenizerLoader.Load(_dir);
        Assert.False(noBos.AddBosByDefault);
        Assert.Equal(new[] { 346, 306, 414, 263, 304, 341 }, noBos.Encode("Hello world"));
    }
}
