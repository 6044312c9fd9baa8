using System.Globalization;
using System.Text.Json;
using SpecCore.Models;
using SpecCore.Speculation.Generation;

namespace SpecCore.Speculation.Trees;

/// <summary>
/// How often a target accepts each of its draft's candidates, by depth and rank: <see cref="Rate"/>(d, r) is the
/// probability that the target's greedy token equals the draft's rank-r candidate at depth d of a draft tree,
/// given that the path down to depth d - 1 was accepted. Sequoia's dynamic programme shapes static trees from it
/// (<see cref="TreeShape.Sequoia"/>). Measured once per model pair over text (<see cref="Measure"/>) and kept as a
/// small JSON file, <c>profiles/&lt;target&gt;__&lt;draft&gt;.json</c> (<see cref="Save"/>, <see cref="Load"/>).
/// </summary>
public sealed class AcceptanceProfile
{
    private readonly double[][] _rates; // [depth - 1][rank]

    /// <summary>Creates a profile from measured rates ([depth - 1][rank]) and the number of positions behind each depth.</summary>
    public AcceptanceProfile(string target, string draft, double[][] rates, int[] samples)
    {
        ArgumentNullException.ThrowIfNull(rates);
        ArgumentNullException.ThrowIfNull(samples);
        if (rates.Length == 0 || rates[0].Length == 0) throw new ArgumentException("a profile needs at least one depth and one rank");
        if (samples.Length != rates.Length) throw new ArgumentException("one sample count per depth is needed");
        int ranks = rates[0].Length;
        for (int d = 0; d < rates.Length; d++)
        {
            if (rates[d].Length != ranks) throw new ArgumentException($"depth {d + 1} has {rates[d].Length} ranks, depth 1 has {ranks}");
            double sum = 0;
            foreach (double r in rates[d])
            {
                if (!(r >= 0 && r <= 1)) throw new ArgumentException($"acceptance rates must be in [0, 1], got {r} at depth {d + 1}");
                sum += r;
            }
            if (sum > 1 + 1e-6) throw new ArgumentException($"the rates at depth {d + 1} add up to {sum:F4}: the ranks are exclusive, at most 1");
        }
        Target = target;
        Draft = draft;
        _rates = rates;
        Samples = samples;
    }

    /// <summary>Target model name.</summary>
    public string Target { get; }
    /// <summary>Draft model name.</summary>
    public string Draft { get; }
    /// <summary>Depths measured.</summary>
    public int MaxDepth => _rates.Length;
    /// <summary>Ranks measured per depth.</summary>
    public int MaxRank => _rates[0].Length;
    /// <summary>Positions behind each depth's rates.</summary>
    public IReadOnlyList<int> Samples { get; }

    /// <summary>Probability that the rank-<paramref name="rank"/> candidate (0-based) at depth <paramref name="depth"/>
    /// (1-based) is the target's token. Depths past the measured ones use the deepest measured; ranks past them, 0.</summary>
    public double Rate(int depth, int rank)
    {
        if (depth < 1) throw new ArgumentOutOfRangeException(nameof(depth), "depths start at 1");
        if (rank < 0 || rank >= MaxRank) return 0;
        return _rates[Math.Min(depth, MaxDepth) - 1][rank];
    }

    /// <summary>Probability that any of the top <paramref name="ranks"/> candidates at depth 1 is the target's token.</summary>
    public double TopRate(int ranks)
    {
        double s = 0;
        for (int r = 0; r < Math.Min(ranks, MaxRank); r++) s += _rates[0][r];
        return s;
    }

    /// <summary>The conventional file name of a pair's profile: <c>&lt;target&gt;__&lt;draft&gt;.json</c>.</summary>
    public static string FileName(string target, string draft) => $"{target}__{draft}.json";

    /// <summary>
    /// Measures the profile of a pair: for each prompt the target's greedy continuation (<paramref name="newTokens"/>
    /// tokens, within both contexts) is taken as the accepted text; the draft, run over that text, ranks the target's
    /// token at every position. A position counts at depth d from every start where the previous d - 1 target tokens
    /// were all among the draft's top <paramref name="maxRank"/> (reachable through a tree that wide).
    /// </summary>
    public static AcceptanceProfile Measure(TransformerModel target, TransformerModel draft, IEnumerable<int[]> prompts,
        int newTokens = 128, int maxDepth = 16, int maxRank = 8, string? targetName = null, string? draftName = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(prompts);
        if (target.Config.VocabSize != draft.Config.VocabSize)
            throw new ArgumentException($"the draft's vocabulary ({draft.Config.VocabSize}) differs from the target's ({target.Config.VocabSize})");
        if (maxDepth < 1 || maxRank < 1) throw new ArgumentOutOfRangeException(nameof(maxDepth), "depth and rank counts must be positive");
        int context = Math.Min(target.Config.MaxPositions, draft.Config.MaxPositions);
        int vocab = target.Config.VocabSize;
        var hits = new long[maxDepth, maxRank];
        var samples = new long[maxDepth];
        using var generator = new Generator(target, null);
        using var state = draft.CreateState(context);
        foreach (int[] prompt in prompts)
        {
            if (prompt.Length == 0 || prompt.Length >= context) continue;
            int n = Math.Min(newTokens, context - prompt.Length);
            int[] continuation = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = n, IgnoreEos = true }).Tokens;
            int[] text = prompt.Concat(continuation).ToArray();

            // rank[t]: the draft's rank of text[t] given text[..t] (continuation positions only).
            var rank = new int[text.Length];
            state.Cache.Truncate(0);
            for (int start = 0; start < text.Length - 1; start += state.MaxBatch)
            {
                int count = Math.Min(state.MaxBatch, text.Length - 1 - start);
                ReadOnlySpan<float> logits = draft.Forward(state, text.AsSpan(start, count), default, LogitsRows.All);
                for (int i = 0; i < count; i++)
                {
                    int t = start + i + 1;
                    if (t >= prompt.Length) rank[t] = RankOf(logits.Slice(i * vocab, vocab), text[t]);
                }
            }
            for (int s = prompt.Length; s < text.Length; s++)
            {
                for (int d = 1; d <= maxDepth && s + d - 1 < text.Length; d++)
                {
                    int r = rank[s + d - 1];
                    samples[d - 1]++;
                    if (r >= maxRank) break;
                    hits[d - 1, r]++;
                }
            }
        }
        if (samples[0] == 0) throw new ArgumentException("no prompt left room for a continuation: nothing was measured");

        // Depths with few positions behind them borrow the rates of the depth above.
        var rates = new double[maxDepth][];
        var counts = new int[maxDepth];
        for (int d = 0; d < maxDepth; d++)
        {
            rates[d] = new double[maxRank];
            counts[d] = (int)samples[d];
            if (samples[d] < 50 && d > 0)
            {
                Array.Copy(rates[d - 1], rates[d], maxRank);
                continue;
            }
            for (int r = 0; r < maxRank; r++) rates[d][r] = Math.Round((double)hits[d, r] / samples[d], 6);
        }
        return new AcceptanceProfile(targetName ?? "target", draftName ?? "draft", rates, counts);
    }

    /// <summary>Rank of <paramref name="token"/> in <paramref name="logits"/>: how many tokens score higher (ties: lower id first).</summary>
    internal static int RankOf(ReadOnlySpan<float> logits, int token)
    {
        float v = logits[token];
        int rank = 0;
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] > v || (logits[i] == v && i < token)) rank++;
        return rank;
    }

    /// <summary>Writes the profile as JSON.</summary>
    public void Save(string path)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("target", Target);
        w.WriteString("draft", Draft);
        w.WriteString("meaning", "acceptance[d][r]: probability that the greedy token of the target equals the rank-r candidate of the draft at depth d+1, given the path above was accepted; samples[d]: positions measured at that depth");
        w.WriteStartArray("samples");
        foreach (int s in Samples) w.WriteNumberValue(s);
        w.WriteEndArray();
        w.WriteStartArray("acceptance");
        foreach (double[] row in _rates)
        {
            w.WriteStartArray();
            foreach (double r in row) w.WriteNumberValue(r);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Reads a profile written by <see cref="Save"/>; a missing or malformed file gives an error naming it.</summary>
    public static AcceptanceProfile Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"acceptance profile '{path}' not found (measure one with AcceptanceProfile.Measure and Save it)", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement root = doc.RootElement;
            string target = root.TryGetProperty("target", out var t) ? t.GetString() ?? "" : "";
            string draft = root.TryGetProperty("draft", out var d) ? d.GetString() ?? "" : "";
            if (!root.TryGetProperty("acceptance", out var acc) || acc.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException("no 'acceptance' array");
            double[][] rates = acc.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
            int[] samples = root.TryGetProperty("samples", out var s)
                ? s.EnumerateArray().Select(v => v.GetInt32()).ToArray()
                : new int[rates.Length];
            return new AcceptanceProfile(target, draft, rates, samples);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"acceptance profile '{path}' is malformed: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Target}←{Draft}: depth 1 top-1 {Rate(1, 0):P1}, top-{MaxRank} {TopRate(MaxRank):P1}");
}
