using System.Buffers;
using System.Text;

namespace SpecCore.Models.Tokenization;

/// <summary>
/// Decodes generated tokens incrementally. A character whose UTF-8 bytes are split over several tokens
/// (byte-fallback pieces such as <c>&lt;0xE2&gt;&lt;0x80&gt;&lt;0x99&gt;</c>, or byte-level BPE tokens) is returned
/// only once it is complete. The concatenation of every <see cref="Append"/> result and <see cref="Flush"/>
/// equals <see cref="ITextTokenizer.Decode"/> of the same ids with the same <see cref="SkipSpecialTokens"/>.
/// Not thread-safe: one per sequence.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly ITokenByteSource _source;
    private readonly ByteSink _pending = new();
    private bool _atStart = true;

    internal StreamingDecoder(ITokenByteSource source, bool skipSpecialTokens = false)
    {
        _source = source;
        SkipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Whether special tokens (SentencePiece control and unknown pieces, tokenizer.json added tokens marked
    /// special) are left out of the text, as <c>decode(ids, skip_special_tokens=True)</c> leaves them out.</summary>
    public bool SkipSpecialTokens { get; }

    /// <summary>Adds one token and returns the text it completes (empty while a character is still partial).</summary>
    public string Append(int id)
    {
        _source.AppendTokenBytes(id, SkipSpecialTokens, ref _atStart, _pending);
        ReadOnlySpan<byte> bytes = _pending.Span;
        int ready = bytes.Length - Utf8Text.IncompleteTailLength(bytes);
        if (ready == 0) return string.Empty;
        string text = Encoding.UTF8.GetString(bytes[..ready]);
        _pending.RemoveFront(ready);
        return text;
    }

    /// <summary>Returns whatever is held back (an incomplete character becomes U+FFFD) and empties the decoder.</summary>
    public string Flush()
    {
        if (_pending.Length == 0) return string.Empty;
        string text = Encoding.UTF8.GetString(_pending.Span);
        _pending.Clear();
        return text;
    }
}

/// <summary>What a tokenizer provides so that batch and streaming decoding share one code path.</summary>
internal interface ITokenByteSource
{
    /// <summary>
    /// Appends the UTF-8 bytes that <paramref name="id"/> decodes to. <paramref name="atStart"/> is true until
    /// the first visible piece has been written (SentencePiece strips that piece's leading space).
    /// </summary>
    void AppendTokenBytes(int id, bool skipSpecialTokens, ref bool atStart, ByteSink sink);
}

/// <summary>A growable byte buffer.</summary>
internal sealed class ByteSink
{
    private byte[] _buffer = new byte[64];
    private int _length;

    public int Length => _length;
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    public void Add(byte value)
    {
        if (_length == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
        _buffer[_length++] = value;
    }

    public void Add(ReadOnlySpan<byte> values)
    {
        if (_length + values.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + values.Length));
        values.CopyTo(_buffer.AsSpan(_length));
        _length += values.Length;
    }

    public void RemoveFront(int count)
    {
        _buffer.AsSpan(count, _length - count).CopyTo(_buffer);
        _length -= count;
    }

    public void Clear() => _length = 0;
}

/// <summary>UTF-8 helpers shared by the tokenizers.</summary>
internal static class Utf8Text
{
    /// <summary>
    /// Length of the trailing bytes that start a valid but unfinished UTF-8 sequence (0 to 3): those must wait
    /// for more bytes; everything before them decodes the same now as it would later.
    /// </summary>
    public static int IncompleteTailLength(ReadOnlySpan<byte> bytes)
    {
        for (int k = 1; k <= 3 && k <= bytes.Length; k++)
        {
            byte b = bytes[^k];
            if (b < 0x80) return 0;            // ASCII: nothing pending
            if (b < 0xC0) continue;            // continuation byte: look further back
            return Rune.DecodeFromUtf8(bytes[^k..], out _, out _) == OperationStatus.NeedMoreData ? k : 0;
        }
        return 0;
    }

    /// <summary>Decodes bytes with U+FFFD for invalid sequences.</summary>
    public static string Decode(ByteSink sink) => Encoding.UTF8.GetString(sink.Span);
}
