using SpecCore.Models.Tokenization;

namespace SpecCore.Speculation.Generation;

/// <summary>
/// Turns generated tokens into text for a writer and ends the generation at a stop string. The text is cut before
/// the first stop string to appear (it may span several tokens, or start inside one token and end in another), and
/// nothing after it is written. While streaming, the tail that could still grow into a stop string is held back, so
/// no part of a stop string ever reaches the writer. Special tokens are left out unless the decoder keeps them.
/// Not thread-safe: one per sequence.
/// </summary>
public sealed class TextStreamer : ITokenSink
{
    private readonly StreamingDecoder _decoder;
    private readonly TextWriter _output;
    private readonly string[] _stops;
    private char[] _held = new char[64]; // text not yet written: at most the longest stop string less one, plus a token's text
    private int _heldLength;

    /// <summary>Creates a streamer writing the text of <paramref name="decoder"/> to <paramref name="output"/>, stopping
    /// at any of <paramref name="stopStrings"/> (none: never; empty strings are refused).</summary>
    public TextStreamer(StreamingDecoder decoder, TextWriter output, IReadOnlyList<string>? stopStrings = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(output);
        _decoder = decoder;
        _output = output;
        _stops = stopStrings == null ? Array.Empty<string>() : new string[stopStrings.Count];
        for (int i = 0; i < _stops.Length; i++)
        {
            string stop = stopStrings![i];
            if (string.IsNullOrEmpty(stop)) throw new ArgumentException("a stop string must not be empty", nameof(stopStrings));
            _stops[i] = stop;
        }
    }

    /// <summary>The stop string that ended the text, or null.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Feeds tokens that are already shown (the prompt) to the decoder without writing them, so that the
    /// continuation decodes as it would after them (SentencePiece's leading space, characters split over tokens).</summary>
    public void Prime(ReadOnlySpan<int> tokens)
    {
        foreach (int token in tokens) _decoder.Append(token);
    }

    /// <inheritdoc />
    public bool OnToken(int token)
    {
        if (MatchedStop != null) return false;
        Push(_decoder.Append(token));
        if (MatchedStop != null) return false;
        _output.Flush();
        return true;
    }

    /// <summary>Writes what is still held back (an unfinished character, a tail that did not become a stop string)
    /// once the generation has ended; nothing when a stop string was found.</summary>
    public void Finish()
    {
        if (MatchedStop == null)
        {
            Push(_decoder.Flush());
            if (MatchedStop == null)
            {
                _output.Write(_held.AsSpan(0, _heldLength));
                _heldLength = 0;
            }
        }
        _output.Flush();
    }

    private void Push(string text)
    {
        if (text.Length == 0) return;
        if (_stops.Length == 0)
        {
            _output.Write(text);
            return;
        }
        if (_heldLength + text.Length > _held.Length) Array.Resize(ref _held, Math.Max(_held.Length * 2, _heldLength + text.Length));
        text.CopyTo(_held.AsSpan(_heldLength));
        _heldLength += text.Length;
        ReadOnlySpan<char> held = _held.AsSpan(0, _heldLength);

        // The earliest stop string wins; what precedes it is the rest of the text.
        int cut = -1;
        foreach (string stop in _stops)
        {
            int at = held.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
                MatchedStop = stop;
            }
        }
        if (cut >= 0)
        {
            _output.Write(held[..cut]);
            _heldLength = 0;
            return;
        }

        // Hold back the longest tail that is the start of a stop string: any stop string yet to appear starts there
        // or later, since an earlier start would make a longer tail such a prefix.
        int keep = 0;
        foreach (string stop in _stops)
        {
            for (int n = Math.Min(stop.Length - 1, held.Length); n > keep; n--)
            {
                if (held[^n..].SequenceEqual(stop.AsSpan(0, n)))
                {
                    keep = n;
                    break;
                }
            }
        }
        _output.Write(held[..^keep]);
        held[^keep..].CopyTo(_held);
        _heldLength = keep;
    }
}
