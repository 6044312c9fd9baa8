using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace SpecCore.Models.Tokenization;

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (GPT-2, Llama 3, Qwen2/3 style):
/// added tokens, normalizer, pre-tokenizer (regex Split, ByteLevel), rank-ordered merges and post-processor.
/// Matches Hugging Face tokenizers' <c>encode</c>/<c>decode</c>.
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITextTokenizer, ITokenByteSource
{
    private const int MaxCachedWords = 100_000;

    private readonly string?[] _idToToken;          // [VocabSize] vocabulary entry or added-token content
    private readonly bool[] _isAdded;               // [VocabSize] added token (decoded as plain text)
    private readonly bool[] _isSpecial;             // [VocabSize] special added token (skippable)
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly Dictionary<long, (int Rank, int Id)> _merges; // (left id << 32 | right id) -> rank, merged id
    private readonly AddedTokenMatcher _added;
    private readonly TextNormalizer? _normalizer;
    private readonly List<PreTokenizerStep> _preTokenizer;
    private readonly int[] _prefix;
    private readonly int[] _suffix;
    private readonly bool _ignoreMerges;
    private readonly int? _unkId;
    private readonly string _continuingSubwordPrefix;
    private readonly string _endOfWordSuffix;
    private readonly int[] _eosIds;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private ByteLevelBpeTokenizer(
        string?[] idToToken, bool[] isAdded, bool[] isSpecial, Dictionary<string, int> vocab,
        Dictionary<long, (int, int)> merges, AddedTokenMatcher added, TextNormalizer? normalizer,
        List<PreTokenizerStep> preTokenizer, int[] prefix, int[] suffix, bool ignoreMerges, int? unkId,
        string continuingSubwordPrefix, string endOfWordSuffix, int? bosId, int[] eosIds)
    {
        _idToToken = idToToken;
        _isAdded = isAdded;
        _isSpecial = isSpecial;
        _vocab = vocab;
        _vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = merges;
        _added = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _prefix = prefix;
        _suffix = suffix;
        _ignoreMerges = ignoreMerges;
        _unkId = unkId;
        _continuingSubwordPrefix = continuingSubwordPrefix;
        _endOfWordSuffix = endOfWordSuffix;
        BosId = bosId;
        _eosIds = eosIds;
        AddBosByDefault = bosId is { } b && prefix.Length > 0 && prefix[0] == b;
    }

    /// <inheritdoc/>
    public int VocabSize => _idToToken.Length;

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public IReadOnlyList<int> EosIds => _eosIds;

    /// <inheritdoc/>
    public bool AddBosByDefault { get; }

    /// <summary>Loads <c>tokenizer.json</c>; <paramref name="config"/> supplies BOS/EOS and <c>add_bos_token</c>.</summary>
    /// <param name="path">Path of the <c>tokenizer.json</c> file.</param>
    /// <param name="config">Settings from <c>tokenizer_config.json</c>, if any.</param>
    public static ByteLevelBpeTokenizer Load(string path, TokenizerConfig? config = null)
    {
        if (!ModelFile.Exists(path)) throw new FileNotFoundException($"tokenizer.json not found: {path}", path);
        return FromJson(ModelFile.ReadUtf8(path), path, config);
    }

    /// <summary>Builds the tokenizer from the UTF-8 bytes of a <c>tokenizer.json</c> document.</summary>
    /// <param name="json">The document.</param>
    /// <param name="name">Name used in error messages (usually the file path).</param>
    /// <param name="config">Settings from <c>tokenizer_config.json</c>, if any.</param>
    public static ByteLevelBpeTokenizer FromJson(ReadOnlyMemory<byte> json, string name = "tokenizer.json", TokenizerConfig? config = null)
    {
        using JsonDocument doc = ParseDocument(json, name);
        return FromDocument(doc.RootElement, name, config);
    }

    /// <summary>Parses tokenizer.json, reporting bad JSON as <see cref="InvalidDataException"/>.</summary>
    internal static JsonDocument ParseDocument(ReadOnlyMemory<byte> json, string name)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name}: invalid JSON: {e.Message}", e);
        }
    }

    /// <summary>Builds the tokenizer from a parsed tokenizer.json.</summary>
    internal static ByteLevelBpeTokenizer FromDocument(JsonElement root, string name, TokenizerConfig? config)
    {
        try
        {
            return Build(root, name, config);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or IndexOutOfRangeException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{name}: unexpected structure: {e.Message}", e);
        }
    }

    /// <summary>Largest token id accepted (the configuration's vocabulary limit).</summary>
    private const int MaxId = 1 << 24;

    private static ByteLevelBpeTokenizer Build(JsonElement root, string name, TokenizerConfig? config)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{name}: expected a JSON object");
        JsonElement model = Json.Require(root, "model", JsonValueKind.Object, name);
        string modelType = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "BPE";
        if (modelType != "BPE") throw new InvalidDataException($"{name}: model type '{modelType}' is not supported (only BPE)");
        if (Json.OptionalBool(model, "byte_fallback", false, name + " model"))
            throw new InvalidDataException($"{name}: BPE with byte_fallback (SentencePiece-style tokenizer.json) is not supported; use tokenizer.model");

        // Vocabulary.
        JsonElement vocabJson = Json.Require(model, "vocab", JsonValueKind.Object, name + " model");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        foreach (JsonProperty entry in vocabJson.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{name}: model.vocab entry '{Families.ConfigReader.Shorten(entry.Name)}' has an invalid id (expected a non-negative integer below 2^31)");
            if (id >= MaxId) throw new InvalidDataException($"{name}: model.vocab entry '{Families.ConfigReader.Shorten(entry.Name)}' has id {id}, above the limit of {MaxId} this runtime accepts");
            vocab[entry.Name] = id;
            maxId = Math.Max(maxId, id);
        }
        if (vocab.Count == 0) throw new InvalidDataException($"{name}: model.vocab is empty");
        var vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();

        // Merges: "a b" strings or [a, b] arrays; rank = position.
        JsonElement mergesJson = Json.Require(model, "merges", JsonValueKind.Array, name + " model");
        var merges = new Dictionary<long, (int, int)>(mergesJson.GetArrayLength(), PairKeyComparer.Instance);
        char[] buffer = new char[256];
        int rank = 0;
        foreach (JsonElement merge in mergesJson.EnumerateArray())
        {
            string left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string text = merge.GetString()!;
                int space = text.IndexOf(' ');
                if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
                    throw new InvalidDataException($"{name}: merge {rank} '{text}' is not two tokens separated by one space");
                left = text[..space];
                right = text[(space + 1)..];
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                     && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                left = merge[0].GetString()!;
                right = merge[1].GetString()!;
            }
            else
            {
                throw new InvalidDataException($"{name}: merge {rank} must be \"a b\" or [\"a\", \"b\"]");
            }
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId))
                throw new InvalidDataException($"{name}: merge {rank} '{left} {right}' uses a token missing from model.vocab");
            int length = left.Length + right.Length;
            if (buffer.Length < length) buffer = new char[length * 2];
            left.CopyTo(buffer);
            right.CopyTo(buffer.AsSpan(left.Length));
            if (!vocabLookup.TryGetValue(buffer.AsSpan(0, length), out int mergedId))
                throw new InvalidDataException($"{name}: merge {rank} '{left} {right}' produces a token missing from model.vocab");
            merges.TryAdd(((long)leftId << 32) | (uint)rightId, (rank, mergedId));
            rank++;
        }

        // Added tokens (special or not): matched in raw text before anything else.
        var added = new List<(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool SingleWord)>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedJson) && addedJson.ValueKind != JsonValueKind.Null)
        {
            if (addedJson.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{name}: 'added_tokens' must be an array");
            foreach (JsonElement a in addedJson.EnumerateArray())
            {
                string where = $"{name} added_tokens";
                JsonElement idJson = Json.Require(a, "id", JsonValueKind.Number, where);
                if (!idJson.TryGetInt32(out int id) || id < 0 || id >= MaxId)
                    throw new InvalidDataException($"{where}: id {Families.ConfigReader.Shorten(idJson.GetRawText())} is not an integer in [0, {MaxId})");
                string content = Json.RequireString(a, "content", where);
                if (content.Length == 0) throw new InvalidDataException($"{where}: entry with id {id} has empty content");
                added.Add((id, content, Json.OptionalBool(a, "special", false, where), Json.OptionalBool(a, "lstrip", false, where),
                    Json.OptionalBool(a, "rstrip", false, where), Json.OptionalBool(a, "single_word", false, where)));
                maxId = Math.Max(maxId, id);
            }
        }

        // Ids index arrays sized by the largest one: a vocabulary far sparser than its entries is a lie, refused
        // before anything is allocated for it.
        long entries = vocab.Count + added.Count;
        if (maxId >= 2 * entries + 1024)
            throw new InvalidDataException($"{name}: largest token id {maxId} is far beyond the {entries} vocabulary and added entries (ids must stay below {2 * entries + 1024})");
        var idToToken = new string?[maxId + 1];
        var isAdded = new bool[maxId + 1];
        var isSpecial = new bool[maxId + 1];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        foreach (var a in added)
        {
            idToToken[a.Id] = a.Content;
            isAdded[a.Id] = true;
            isSpecial[a.Id] = a.Special;
        }

        int? TokenToId(string token)
        {
            foreach (var a in added)
                if (a.Content == token) return a.Id;
            return vocab.TryGetValue(token, out int id) ? id : null;
        }

        TextNormalizer? normalizer = root.TryGetProperty("normalizer", out JsonElement n) ? TextNormalizer.Parse(n, name + " normalizer") : null;
        List<PreTokenizerStep> preTokenizer = root.TryGetProperty("pre_tokenizer", out JsonElement p)
            ? PreTokenizerStep.Parse(p, name + " pre_tokenizer") : [];
        if (!preTokenizer.Any(s => s.IsByteLevel))
            throw new InvalidDataException($"{name}: pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizer.json is supported");
        PostProcessor post = root.TryGetProperty("post_processor", out JsonElement pp)
            ? PostProcessor.Parse(pp, TokenToId, name + " post_processor") : PostProcessor.Parse(default, TokenToId, name);

        // BOS/EOS: tokenizer_config.json names them; otherwise the post-processor's leading token is BOS.
        int? bosId = config?.BosToken is { } bosText ? TokenToId(bosText) : post.Prefix.Length > 0 ? post.Prefix[0] : null;
        int[] eosIds = config?.EosToken is { } eosText && TokenToId(eosText) is { } eos ? [eos] : [];
        int[] prefix = post.Prefix;
        if (config?.AddBosToken is { } addBos && bosId is { } bos)
        {
            // An explicit add_bos_token decides, as HF's Llama tokenizers rebuild their post-processor from it.
            bool hasBos = prefix.Length > 0 && prefix[0] == bos;
            if (addBos && !hasBos) prefix = [bos, .. prefix];
            else if (!addBos && hasBos) prefix = prefix[1..];
        }

        string? unkToken = Json.OptionalString(model, "unk_token", name + " model");
        int? unkId = unkToken != null && vocab.TryGetValue(unkToken, out int unk) ? unk : null;

        return new ByteLevelBpeTokenizer(
            idToToken, isAdded, isSpecial, vocab, merges,
            new AddedTokenMatcher(added.Select(a => new AddedToken(a.Id, a.Content, a.LStrip, a.RStrip, a.SingleWord))),
            normalizer, preTokenizer, prefix, post.Suffix,
            Json.OptionalBool(model, "ignore_merges", false, name + " model"), unkId,
            Json.OptionalString(model, "continuing_subword_prefix", name + " model") ?? "",
            Json.OptionalString(model, "end_of_word_suffix", name + " model") ?? "",
            bosId, eosIds);
    }

    /// <inheritdoc/>
    public string? TokenToString(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a vocabulary entry or added token, or null.</summary>
    public int? TokenToId(string token)
    {
        if (_added.TryGetId(token, out int id)) return id;
        return _vocab.TryGetValue(token, out id) ? id : null;
    }

    /// <inheritdoc/>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_prefix);
        var pieces = new List<string>();
        var next = new List<string>();
        foreach ((int start, int length, int addedId) in _added.Split(text))
        {
            if (addedId >= 0)
            {
                ids.Add(addedId);
                continue;
            }
            string segment = text.Substring(start, length);
            if (_normalizer != null) segment = _normalizer.Normalize(segment);
            pieces.Clear();
            pieces.Add(segment);
            foreach (PreTokenizerStep step in _preTokenizer)
            {
                next.Clear();
                foreach (string piece in pieces) step.Apply(piece, next);
                (pieces, next) = (next, pieces);
            }
            foreach (string word in pieces) ids.AddRange(EncodeWord(word));
        }
        if (addSpecialTokens) ids.AddRange(_suffix);
        return ids.ToArray();
    }

    /// <summary>BPE of one pre-tokenized word: lowest-rank merge first, leftmost on ties.</summary>
    private int[] EncodeWord(string word)
    {
        if (_cache.TryGetValue(word, out int[]? cached)) return cached;
        int[] result = MergeWord(word);
        if (_cache.Count >= MaxCachedWords) _cache.Clear();
        _cache.TryAdd(word, result);
        return result;
    }

    private int[] MergeWord(string word)
    {
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole)) return [whole];

        // Initial symbols: one per character (with subword prefix/suffix decorations if the model has them).
        var ids = new List<int>(word.Length);
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            bool found;
            int id;
            if (_continuingSubwordPrefix.Length == 0 && _endOfWordSuffix.Length == 0)
            {
                found = _vocabLookup.TryGetValue(word.AsSpan(i, len), out id);
            }
            else
            {
                string decorated = (i > 0 ? _continuingSubwordPrefix : "") + word.Substring(i, len) + (i + len == word.Length ? _endOfWordSuffix : "");
                found = _vocab.TryGetValue(decorated, out id);
            }
            if (found) ids.Add(id);
            else if (_unkId is { } unk) ids.Add(unk);
            i += len;
        }
        int count = ids.Count;
        if (count < 2) return ids.ToArray();

        var symbol = ids.ToArray();       // [count] current id of each symbol (-1: merged away)
        var next = new int[count];
        var prev = new int[count];
        for (int i = 0; i < count; i++)
        {
            next[i] = i + 1 < count ? i + 1 : -1;
            prev[i] = i - 1;
        }
        var queue = new PriorityQueue<(int Left, int LeftId, int RightId, int MergedId), (int Rank, int Left)>(count);
        for (int i = 0; i + 1 < count; i++) TryQueue(i);

        while (queue.TryDequeue(out var m, out _))
        {
            int right = next[m.Left];
            if (symbol[m.Left] != m.LeftId || right < 0 || symbol[right] != m.RightId) continue; // stale
            symbol[m.Left] = m.MergedId;
            symbol[right] = -1;
            next[m.Left] = next[right];
            if (next[right] >= 0) prev[next[right]] = m.Left;
            if (prev[m.Left] >= 0) TryQueue(prev[m.Left]);
            TryQueue(m.Left);
        }

        var result = new List<int>(count);
        for (int i = 0; i >= 0; i = next[i]) result.Add(symbol[i]);
        return result.ToArray();

        void TryQueue(int left)
        {
            int right = next[left];
            if (right < 0) return;
            if (_merges.TryGetValue(((long)symbol[left] << 32) | (uint)symbol[right], out var merge))
                queue.Enqueue((left, symbol[left], symbol[right], merge.Id), (merge.Rank, left));
        }
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
        if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is not { } token) return;
        if (_isAdded[id])
        {
            // Added tokens are plain text, not byte-level characters (as tokenizers.js and HF's slow path decode them).
            if (skipSpecialTokens && _isSpecial[id]) return;
            AppendUtf8(token, sink);
            return;
        }
        short[] charToByte = ByteLevelAlphabet.CharToByte;
        foreach (char c in token)
        {
            if (c >= charToByte.Length || charToByte[c] < 0)
            {
                AppendUtf8(token, sink); // not a byte-level token: HF's ByteLevel decoder keeps it as is
                return;
            }
        }
        foreach (char c in token) sink.Add((byte)charToByte[c]);
    }

    private static void AppendUtf8(string text, ByteSink sink)
    {
        Span<byte> buffer = stackalloc byte[256];
        int count = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (count <= buffer.Length) sink.Add(buffer[..Encoding.UTF8.GetBytes(text, buffer)]);
        else sink.Add(Encoding.UTF8.GetBytes(text));
    }
}

/// <summary>Hashes a (left id, right id) pair key well; long's own hash (high ^ low) collides for small ids.</summary>
internal sealed class PairKeyComparer : IEqualityComparer<long>
{
    public static readonly PairKeyComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long key) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15)) >> 32);
}

/// <summary>An added token as tokenizer.json describes it.</summary>
internal readonly record struct AddedToken(int Id, string Content, bool LStrip, bool RStrip, bool SingleWord);

/// <summary>Finds added tokens in raw text, leftmost first and longest among those starting at one position.</summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar = new();
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        foreach (var group in tokens.GroupBy(t => t.Content[0]))
            _byFirstChar[group.Key] = group.OrderByDescending(t => t.Content.Length).ToArray();
        foreach (var token in tokens) _ids.TryAdd(token.Content, token.Id);
    }

    public bool TryGetId(string content, out int id) => _ids.TryGetValue(content, out id);

    /// <summary>Splits text into (start, length, added id or -1) segments; empty segments are omitted.</summary>
    public List<(int Start, int Length, int AddedId)> Split(string text)
    {
        var segments = new List<(int, int, int)>();
        int segmentStart = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!_byFirstChar.TryGetValue(text[i], out AddedToken[]? candidates)) continue;
            foreach (AddedToken token in candidates)
            {
                if (!text.AsSpan(i).StartsWith(token.Content, StringComparison.Ordinal)) continue;
                int end = i + token.Content.Length;
                if (token.SingleWord && (i > 0 && IsWordChar(text[i - 1]) || end < text.Length && IsWordChar(text[end]))) continue;
                int matchStart = i;
                if (token.LStrip) while (matchStart > segmentStart && char.IsWhiteSpace(text[matchStart - 1])) matchStart--;
                if (token.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
                if (matchStart > segmentStart) segments.Add((segmentStart, matchStart - segmentStart, -1));
                segments.Add((matchStart, end - matchStart, token.Id));
                segmentStart = end;
                i = end - 1;
                break;
            }
        }
        if (segmentStart < text.Length) segments.Add((segmentStart, text.Length - segmentStart, -1));
        return segments;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}
