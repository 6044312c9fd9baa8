using System.Text;

namespace SpecCore.Models.Tokenization;

/// <summary>
/// A SentencePiece BPE tokenizer read from <c>tokenizer.model</c> (Llama 2, TinyLlama, llama2.c exports):
/// score-ordered merges, byte fallback, and the model's normalizer flags (dummy prefix, whitespace
/// escaping and collapsing). Matches the SentencePiece library's <c>encode</c>/<c>decode</c>.
/// </summary>
public sealed class SentencePieceTokenizer : ITextTokenizer, ITokenByteSource
{
    private const char SpaceSymbol = '\u2581'; // ▁

    private enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    private readonly string[] _pieces;          // [vocab]
    private readonly float[] _scores;           // [vocab]
    private readonly PieceType[] _types;        // [vocab]
    private readonly byte[][] _decodedBytes;    // [vocab] UTF-8 of the piece with ▁ as space (byte pieces: the byte)
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _normalLookup; // normal, user-defined, unused pieces
    private readonly int[] _byteIds;            // [256] id of <0xXX>, -1 if absent
    private readonly string[] _userDefined;     // user-defined pieces, longest first
    private readonly int _unkId;
    private readonly bool _byteFallback;
    private readonly bool _addDummyPrefix;
    private readonly bool _removeExtraWhitespaces;
    private readonly bool _escapeWhitespaces;
    private readonly int[] _eosIds;

    private SentencePieceTokenizer(
        string[] pieces, float[] scores, PieceType[] types, int unkId, int? bosId, int[] eosIds,
        bool byteFallback, bool addDummyPrefix, bool removeExtraWhitespaces, bool escapeWhitespaces, bool addBos)
    {
        _pieces = pieces;
        _scores = scores;
        _types = types;
        _unkId = unkId;
        BosId = bosId;
        _eosIds = eosIds;
        _byteFallback = byteFallback;
        _addDummyPrefix = addDummyPrefix;
        _removeExtraWhitespaces = removeExtraWhitespaces;
        _escapeWhitespaces = escapeWhitespaces;
        AddBosByDefault = addBos && bosId.HasValue;

        var normal = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        _byteIds = new int[256];
        Array.Fill(_byteIds, -1);
        _decodedBytes = new byte[pieces.Length][];
        var userDefined = new List<string>();
        for (int id = 0; id < pieces.Length; id++)
        {
            string piece = pieces[id];
            switch (types[id])
            {
                case PieceType.Normal or PieceType.UserDefined or PieceType.Unused:
                    normal.TryAdd(piece, id);
                    if (types[id] == PieceType.UserDefined) userDefined.Add(piece);
                    _decodedBytes[id] = Encoding.UTF8.GetBytes(piece.Replace(SpaceSymbol, ' '));
                    break;
                case PieceType.Byte when TryParseBytePiece(piece, out byte value):
                    if (_byteIds[value] < 0) _byteIds[value] = id;
                    _decodedBytes[id] = [value];
                    break;
                default: // control, unknown (and malformed byte pieces): shown as their piece text
                    _decodedBytes[id] = Encoding.UTF8.GetBytes(piece);
                    break;
            }
        }
        _normalLookup = normal.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefined = userDefined.OrderByDescending(p => p.Length).ToArray();
    }

    /// <inheritdoc/>
    public int VocabSize => _pieces.Length;

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public IReadOnlyList<int> EosIds => _eosIds;

    /// <inheritdoc/>
    public bool AddBosByDefault { get; }

    /// <summary>The unknown-piece id.</summary>
    public int UnkId => _unkId;

    /// <summary>Loads a SentencePiece <c>tokenizer.model</c>; BOS/EOS/add-BOS come from the model unless overridden.</summary>
    /// <param name="path">Path of the <c>tokenizer.model</c> file.</param>
    /// <param name="config">Settings from <c>tokenizer_config.json</c>, if any.</param>
    public static SentencePieceTokenizer Load(string path, TokenizerConfig? config = null)
    {
        if (!ModelFile.Exists(path)) throw new FileNotFoundException($"SentencePiece model not found: {path}", path);
        return FromBytes(ModelFile.ReadAllBytes(path), path, config);
    }

    /// <summary>Builds the tokenizer from the bytes of a serialized SentencePiece <c>ModelProto</c>.</summary>
    /// <param name="model">The serialized <c>ModelProto</c>.</param>
    /// <param name="name">Name used in error messages (usually the file path).</param>
    /// <param name="config">Settings from <c>tokenizer_config.json</c>, if any.</param>
    public static SentencePieceTokenizer FromBytes(ReadOnlySpan<byte> model, string name = "tokenizer.model", TokenizerConfig? config = null)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        int modelType = 1, unkId = 0, bosId = 1, eosId = 2;
        bool byteFallback = false, treatWhitespaceAsSuffix = false;
        bool addDummyPrefix = true, removeExtra = true, escape = true;
        string normalizerName = "";
        int charsmapLength = 0;

        var reader = new ProtoReader(model, name);
        while (reader.TryReadTag(out int field, out int wire))
        {
            if (field is 1 or 2 or 3 && wire != 2) throw reader.Malformed($"ModelProto field {field} has wire type {wire}, expected 2");
            switch (field)
            {
                case 1: // SentencePiece
                {
                    var p = new ProtoReader(reader.ReadBytes(), name);
                    string piece = "";
                    float score = 0;
                    int type = 1;
                    while (p.TryReadTag(out int f, out int w))
                    {
                        if (f == 1 && w == 2) piece = DecodeUtf8(p.ReadBytes(), name, "piece");
                        else if (f == 2 && w == 5) score = p.ReadFloat();
                        else if (f == 3 && w == 0) type = (int)p.ReadVarint();
                        else p.Skip(w);
                    }
                    if (type is < 1 or > 6) throw reader.Malformed($"piece {pieces.Count} has unknown type {type}");
                    pieces.Add(piece);
                    scores.Add(score);
                    types.Add((PieceType)type);
                    break;
                }
                case 2: // TrainerSpec
                {
                    var t = new ProtoReader(reader.ReadBytes(), name);
                    while (t.TryReadTag(out int f, out int w))
                    {
                        if (w != 0) { t.Skip(w); continue; }
                        long v = (long)t.ReadVarint();
                        switch (f)
                        {
                            case 3: modelType = (int)v; break;
                            case 24: treatWhitespaceAsSuffix = v != 0; break;
                            case 35: byteFallback = v != 0; break;
                            case 40: unkId = (int)v; break;
                            case 41: bosId = (int)v; break;
                            case 42: eosId = (int)v; break;
                        }
                    }
                    break;
                }
                case 3: // NormalizerSpec
                {
                    var n = new ProtoReader(reader.ReadBytes(), name);
                    while (n.TryReadTag(out int f, out int w))
                    {
                        if (f == 1 && w == 2) normalizerName = DecodeUtf8(n.ReadBytes(), name, "normalizer name");
                        else if (f == 2 && w == 2) charsmapLength = n.ReadBytes().Length;
                        else if (f == 3 && w == 0) addDummyPrefix = n.ReadVarint() != 0;
                        else if (f == 4 && w == 0) removeExtra = n.ReadVarint() != 0;
                        else if (f == 5 && w == 0) escape = n.ReadVarint() != 0;
                        else n.Skip(w);
                    }
                    break;
                }
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        if (pieces.Count == 0) throw new InvalidDataException($"{name}: SentencePiece model has no pieces");
        if (modelType != 2)
            throw new InvalidDataException($"{name}: SentencePiece model type {modelType} is not supported (only BPE, type 2)");
        if (treatWhitespaceAsSuffix)
            throw new InvalidDataException($"{name}: treat_whitespace_as_suffix is not supported");
        if (charsmapLength > 0)
            throw new InvalidDataException($"{name}: normalizer '{normalizerName}' with a precompiled character map is not supported (only identity)");
        if ((uint)unkId >= (uint)pieces.Count || types[unkId] != PieceType.Unknown)
            throw new InvalidDataException($"{name}: unk_id {unkId} is not an UNKNOWN piece");

        int? bos = bosId >= 0 && bosId < pieces.Count ? bosId : null;
        int? eos = eosId >= 0 && eosId < pieces.Count ? eosId : null;
        if (config?.BosToken is { } bosText) bos = IndexOf(pieces, bosText) ?? bos;
        if (config?.EosToken is { } eosText) eos = IndexOf(pieces, eosText) ?? eos;
        bool addBos = config?.AddBosToken ?? true; // HF LlamaTokenizer adds BOS unless told otherwise

        return new SentencePieceTokenizer(
            pieces.ToArray(), scores.ToArray(), types.ToArray(), unkId, bos, eos is { } e ? [e] : [],
            byteFallback, addDummyPrefix, removeExtra, escape, addBos);
    }

    /// <inheritdoc/>
    public string? TokenToString(int id) => (uint)id < (uint)_pieces.Length ? _pieces[id] : null;

    /// <summary>The SentencePiece score of <paramref name="id"/> (merge priority: higher merges first).</summary>
    public float GetScore(int id) => _scores[id];

    /// <inheritdoc/>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 2 + 2);
        if (addSpecialTokens && AddBosByDefault) ids.Add(BosId!.Value);
        string normalized = Normalize(text);
        if (normalized.Length > 0) EncodeNormalized(normalized, ids);
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var sink = new ByteSink();
        bool atStart = true;
        foreach (int id in ids) AppendTokenBytes(id, skipSpecialTokens, ref atStart, sink);
        return Utf8Text.Decode(sink);
    }

    /// <inheritdoc/>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    void ITokenByteSource.AppendTokenBytes(int id, bool skipSpecialTokens, ref bool atStart, ByteSink sink) =>
        AppendTokenBytes(id, skipSpecialTokens, ref atStart, sink);

    private void AppendTokenBytes(int id, bool skipSpecialTokens, ref bool atStart, ByteSink sink)
    {
        if ((uint)id >= (uint)_pieces.Length) return;
        byte[] bytes = _decodedBytes[id];
        switch (_types[id])
        {
            case PieceType.Control or PieceType.Unknown:
                // Special pieces are invisible to SentencePiece's leading-space rule.
                if (!skipSpecialTokens) sink.Add(bytes);
                return;
            case PieceType.Byte:
                sink.Add(bytes);
                atStart = false;
                return;
            default:
                // SentencePiece drops the space its normalizer put in front of the text (the dummy prefix).
                int skip = atStart && (_addDummyPrefix || _removeExtraWhitespaces) && _pieces[id].StartsWith(SpaceSymbol) ? 1 : 0;
                sink.Add(bytes.AsSpan(skip));
                if (bytes.Length > 0) atStart = false;
                return;
        }
    }

    /// <summary>SentencePiece's normalizer for an identity character map: collapse/trim spaces, dummy prefix, escape.</summary>
    private string Normalize(string text)
    {
        ReadOnlySpan<char> input = text;
        if (_removeExtraWhitespaces) input = input.Trim(' ');
        if (input.IsEmpty) return string.Empty;

        var sb = new StringBuilder(input.Length + 1);
        char space = _escapeWhitespaces ? SpaceSymbol : ' ';
        if (_addDummyPrefix) sb.Append(space);
        bool previousSpace = _removeExtraWhitespaces; // heading spaces were trimmed above
        foreach (char c in input)
        {
            if (c == ' ')
            {
                if (previousSpace && _removeExtraWhitespaces) continue;
                sb.Append(space);
                previousSpace = true;
            }
            else
            {
                sb.Append(c);
                previousSpace = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>BPE over the characters of <paramref name="text"/>, highest-score merge first, leftmost on ties.</summary>
    private void EncodeNormalized(string text, List<int> output)
    {
        // Symbols are contiguous ranges of text, linked in a list: [symbol] start, length, prev, next.
        int capacity = text.Length;
        var start = new int[capacity];
        var length = new int[capacity];
        var prev = new int[capacity];
        var next = new int[capacity];
        int count = 0;
        for (int i = 0; i < text.Length;)
        {
            int len = MatchUserDefined(text.AsSpan(i));
            if (len == 0) len = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            start[count] = i;
            length[count] = len;
            prev[count] = count - 1;
            next[count] = -1;
            if (count > 0) next[count - 1] = count;
            count++;
            i += len;
        }

        // Agenda: candidate merges, best score first, then leftmost; stale entries are skipped on pop.
        var agenda = new PriorityQueue<(int Left, int Right, int Length), (float Score, int Left)>(count, AgendaOrder.Instance);
        Dictionary<string, (string, string)>? reverseMerges = null;
        for (int i = 1; i < count; i++) TryAddPair(i - 1, i);

        while (agenda.TryDequeue(out var pair, out _))
        {
            int left = pair.Left, right = pair.Right;
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != pair.Length) continue;
            length[left] += length[right];
            length[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            if (prev[left] >= 0) TryAddPair(prev[left], left);
            if (next[left] >= 0) TryAddPair(left, next[left]);
        }

        bool previousUnknown = false;
        for (int i = 0; i >= 0 && i < count; i = next[i])
            EmitPiece(text.Substring(start[i], length[i]));

        void TryAddPair(int left, int right)
        {
            ReadOnlySpan<char> merged = text.AsSpan(start[left], length[left] + length[right]);
            if (!_normalLookup.TryGetValue(merged, out int id)) return;
            agenda.Enqueue((left, right, merged.Length), (_scores[id], left));
            if (_types[id] == PieceType.Unused)
            {
                reverseMerges ??= new Dictionary<string, (string, string)>(StringComparer.Ordinal);
                reverseMerges[merged.ToString()] = (text.Substring(start[left], length[left]), text.Substring(start[right], length[right]));
            }
        }

        void EmitPiece(string piece)
        {
            if (_normalLookup.TryGetValue(piece, out int id))
            {
                // Unused pieces may take part in merges but are never output: split them back.
                if (_types[id] == PieceType.Unused && reverseMerges != null && reverseMerges.TryGetValue(piece, out var parts))
                {
                    EmitPiece(parts.Item1);
                    EmitPiece(parts.Item2);
                    return;
                }
                output.Add(id);
                previousUnknown = false;
                return;
            }
            if (_byteFallback)
            {
                foreach (byte b in Encoding.UTF8.GetBytes(piece))
                    output.Add(_byteIds[b] >= 0 ? _byteIds[b] : _unkId);
                previousUnknown = false;
                return;
            }
            if (!previousUnknown) output.Add(_unkId); // SentencePiece fuses a run of unknown pieces
            previousUnknown = true;
        }
    }

    private int MatchUserDefined(ReadOnlySpan<char> text)
    {
        foreach (string piece in _userDefined)
            if (text.StartsWith(piece, StringComparison.Ordinal)) return piece.Length;
        return 0;
    }

    private static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }

    private static int? IndexOf(List<string> pieces, string piece)
    {
        int index = pieces.IndexOf(piece);
        return index >= 0 ? index : null;
    }

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes, string name, string what)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"{name}: {what} is not valid UTF-8");
        }
    }

    /// <summary>Higher score first; on equal scores the leftmost pair.</summary>
    private sealed class AgendaOrder : IComparer<(float Score, int Left)>
    {
        public static readonly AgendaOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            int byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }
}
