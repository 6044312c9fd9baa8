using System.Text;
using System.Text.Json;
using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Tests.Tokenization;

namespace SpecCore.Tests.Speculation;

/// <summary>Stop strings: the text is cut before the first one, even when it spans tokens, and no part of a stop
/// string reaches the writer while it is still forming; special tokens stay out of the text.</summary>
public class TextStreamerTests
{
    private const string Story = "Once upon a time, there was a little girl named Lily. She loved to play outside.";

    /// <summary>A writer that records each write, to see what was written when.</summary>
    private sealed class RecordingWriter : TextWriter
    {
        public List<string> Writes { get; } = new();
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => Writes.Add(value.ToString());
        public override void Write(string? value) { if (!string.IsNullOrEmpty(value)) Writes.Add(value); }
        public override void Write(ReadOnlySpan<char> buffer) { if (!buffer.IsEmpty) Writes.Add(buffer.ToString()); }
        public string Text => string.Concat(Writes);
    }

    private static (string Text, int Consumed, RecordingWriter Writer) Stream(ITextTokenizer tokenizer, int[] ids, params string[] stops)
    {
        var writer = new RecordingWriter();
        var streamer = new TextStreamer(tokenizer.CreateStreamingDecoder(skipSpecialTokens: true), writer, stops);
        int consumed = 0;
        foreach (int id in ids)
        {
            consumed++;
            if (!streamer.OnToken(id)) break;
        }
        streamer.Finish();
        return (writer.Text, consumed, writer);
    }

    [Theory]
    [InlineData("stories260K", "e was a l")]   // starts inside " there", ends inside " little"
    [InlineData("stories260K", "Lily. She")]
    [InlineData("llama3-tokenizer", "girl named")]
    [InlineData("qwen3-tokenizer", ", there")]
    public void CutsBeforeAStopStringSpanningTokens(string folder, string stop)
    {
        ITextTokenizer tokenizer = TokenizerFixtures.Get(folder);
        int[] ids = tokenizer.Encode(Story, addSpecialTokens: false);
        var (text, consumed, _) = Stream(tokenizer, ids, stop);
        // The writer only ever got text before the stop string (nothing written can be taken back).
        Assert.Equal(Story[..Story.IndexOf(stop, StringComparison.Ordinal)], text);
        // Generation stops at the token that completes the stop string, not later.
        Assert.Contains(stop, tokenizer.Decode(ids.AsSpan(0, consumed)));
        Assert.DoesNotContain(stop, tokenizer.Decode(ids.AsSpan(0, consumed - 1)));
        Assert.True(consumed < ids.Length);
    }

    [Fact]
    public void HeldBackTextComesOutWhenNoStopStringForms()
    {
        ITextTokenizer tokenizer = TokenizerFixtures.Get("stories260K");
        int[] ids = tokenizer.Encode(Story, addSpecialTokens: false);
        // "was a little" starts like "was a lion": held back until " little" shows it is not one.
        var (text, consumed, writer) = Stream(tokenizer, ids, "was a lion", "outside!");
        Assert.Equal(Story, text);
        Assert.Equal(ids.Length, consumed);
        // "was a" reaches the writer only together with what showed it was not "was a lion".
        string written = "";
        foreach (string w in writer.Writes)
        {
            written += w;
            if (written.Contains("was a", StringComparison.Ordinal)) break;
        }
        Assert.Contains("was a li", written);
    }

    [Fact]
    public void TheEarliestOfSeveralStopStringsWins()
    {
        ITextTokenizer tokenizer = TokenizerFixtures.Get("stories260K");
        int[] ids = tokenizer.Encode(Story, addSpecialTokens: false);
        var (text, _, _) = Stream(tokenizer, ids, "outside", "little", "Lily");
        Assert.Equal("Once upon a time, there was a ", text);
    }

    [Fact]
    public void SpecialTokensAreNotPrinted()
    {
        // Today's llama2.c models end a story with <s>: it must not reach the text unless asked for.
        ITextTokenizer tokenizer = TokenizerFixtures.Get("stories260K");
        int[] story = tokenizer.Encode(Story, addSpecialTokens: false);
        int[] ids = [.. story, 1, .. story, 2];
        var (text, _, _) = Stream(tokenizer, ids);
        Assert.DoesNotContain("<s>", text);
        Assert.DoesNotContain("</s>", text);
        Assert.Equal(tokenizer.Decode(ids, skipSpecialTokens: true), text);

        var kept = new StringWriter();
        var streamer = new TextStreamer(tokenizer.CreateStreamingDecoder(skipSpecialTokens: false), kept);
        foreach (int id in ids) streamer.OnToken(id);
        streamer.Finish();
        Assert.Equal(tokenizer.Decode(ids), kept.ToString());
        Assert.Contains("<s>", kept.ToString());
    }

    [Fact]
    public void EmptyStopStringsAreRefused()
    {
        ITextTokenizer tokenizer = TokenizerFixtures.Get("stories260K");
        Assert.Throws<ArgumentException>(() => new TextStreamer(tokenizer.CreateStreamingDecoder(), TextWriter.Null, new[] { "" }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void GenerationEndsAtAStopStringInARealModelsText(int k)
    {
        // stories260K's greedy reference continuation of "Once upon a time", cut before a stop string in its middle.
        using var doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path("reference/stories260K.greedy.json")));
        JsonElement c = doc.RootElement.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("prompt").GetString() == "Once upon a time");
        int[] prompt = c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] greedy = c.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        string reference = c.GetProperty("greedy_text").GetString()!;
        const string stop = "ball. She";
        int at = reference.IndexOf(stop, StringComparison.Ordinal);
        Assert.True(at > 0);

        ITextTokenizer tokenizer = TokenizerFixtures.Get("stories260K");
        using var backend = new CpuBackend(1);
        using var weights = CheckpointWeights.Open(TestModels.Path("stories260K"));
        using var target = TransformerModel.Create(ModelConfig.Load(TestModels.Path("stories260K")), weights, backend);
        using IDrafter? drafter = k > 0 ? new PromptLookupDrafter(target.Config.VocabSize) : null;
        using var generator = new Generator(target, drafter);
        var writer = new StringWriter();
        var streamer = new TextStreamer(tokenizer.CreateStreamingDecoder(skipSpecialTokens: true), writer, new[] { stop });
        streamer.Prime(prompt);
        var (tokens, stats) = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = 128, DraftLength = DraftLengthPolicy.Fixed(Math.Max(k, 1)) }, streamer);
        streamer.Finish();

        Assert.Equal(reference[..at], writer.ToString());
        Assert.Equal(StopReason.StopString, stats.StopReason);
        Assert.Equal(greedy[..tokens.Length], tokens);
        Assert.True(tokens.Length < 60);
        Assert.Contains(stop, tokenizer.Decode([.. prompt, .. tokens], skipSpecialTokens: true));
        Assert.DoesNotContain(stop, tokenizer.Decode([.. prompt, .. tokens[..^1]], skipSpecialTokens: true));
    }
}
