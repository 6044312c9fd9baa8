using System.Numerics.Tensors;
using SpecCore.Models;
using SpecCore.Models.Tokenization;

namespace SpecCore.Training;

/// <summary>Builds a <see cref="TargetRecording"/>: turns text or the target's own samples into token sequences, runs the
/// target over each in one forward pass and keeps the features and the top-k of its next-token distributions.</summary>
internal sealed class TargetRecorder : IDisposable
{
    private readonly TransformerModel _model;
    private readonly int[] _featureLayers;
    private readonly bool _finalHidden;
    private readonly int _length;
    private readonly InferenceState _state;
    private readonly float[] _row;
    private readonly float[] _probs;
    private readonly int[] _order;

    /// <param name="model">The target.</param>
    /// <param name="featureLayers">Layers whose inputs are kept (EAGLE-3), or empty to keep the final hidden state (Medusa).</param>
    /// <param name="length">Tokens per sequence.</param>
    public TargetRecorder(TransformerModel model, int[] featureLayers, int length)
    {
        _model = model;
        _featureLayers = featureLayers;
        _finalHidden = featureLayers.Length == 0;
        _length = length;
        var request = new TargetFeatureRequest(_finalHidden ? Array.Empty<int>() : featureLayers, FinalHidden: _finalHidden);
        _state = model.CreateState(capacity: length, maxBatch: length, features: request);
        Width = _finalHidden ? model.Config.HiddenSize : featureLayers.Length * model.Config.HiddenSize;
        _row = new float[Width];
        _probs = new float[model.Config.VocabSize];
        _order = new int[model.Config.VocabSize];
    }

    /// <summary>Hidden values kept per token.</summary>
    public int Width { get; }

    /// <summary>Runs the target over <paramref name="tokens"/> (exactly the sequence length) and adds the result.</summary>
    public void Record(int[] tokens, TargetRecording recording)
    {
        if (tokens.Length != _length) throw new ArgumentException($"sequences must have {_length} tokens");
        int v = _model.Config.VocabSize, k = recording.TopK, w = Width;
        _state.Cache.Truncate(0);
        ReadOnlySpan<float> logits = _model.Forward(_state, tokens, default, LogitsRows.All);
        var hidden = new Half[_length * w];
        var ids = new int[_length * k];
        var probs = new float[_length * k];
        TargetFeatures features = _state.Features!;
        for (int t = 0; t < _length; t++)
        {
            if (_finalHidden) features.ReadFinalHidden(t, _row);
            else features.ReadConcatenated(t, _row);
            for (int i = 0; i < w; i++) hidden[t * w + i] = (Half)_row[i];
            TopK(logits.Slice(t * v, v), ids.AsSpan(t * k, k), probs.AsSpan(t * k, k));
        }
        recording.Add(tokens, hidden, ids, probs);
    }

    /// <summary>The <paramref name="ids"/>.Length most likely tokens of softmax(<paramref name="logits"/>), most likely first.</summary>
    private void TopK(ReadOnlySpan<float> logits, Span<int> ids, Span<float> probs)
    {
        Softmax(logits, _probs);
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        // Partial selection: k passes of the largest remaining (k is small).
        for (int j = 0; j < ids.Length; j++)
        {
            int best = j;
            for (int i = j + 1; i < _order.Length; i++)
                if (_probs[_order[i]] > _probs[_order[best]]) best = i;
            (_order[j], _order[best]) = (_order[best], _order[j]);
            ids[j] = _order[j];
            probs[j] = _probs[_order[j]];
        }
    }

    /// <inheritdoc />
    public void Dispose() => _state.Dispose();

    internal static void Softmax(ReadOnlySpan<float> logits, Span<float> probs)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) { probs[i] = MathF.Exp(logits[i] - max); sum += probs[i]; }
        float inv = (float)(1 / sum);
        for (int i = 0; i < logits.Length; i++) probs[i] *= inv;
    }

    /// <summary>Token sequences of exactly <paramref name="length"/> tokens cut from text files: each blank-line
    /// separated passage is encoded (with BOS where the tokenizer adds it) and the passages are packed back to back.</summary>
    public static List<int[]> FromText(IEnumerable<string> files, ITextTokenizer tokenizer, int length)
    {
        var stream = new List<int>();
        foreach (string file in files)
        {
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: --data file not found", file);
            string text = ModelFile.ReadAllText(file);
            foreach (string passage in text.Split(new[] { "\n\n", "\r\n\r\n" }, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                stream.AddRange(tokenizer.Encode(passage, addSpecialTokens: true));
        }
        var sequences = new List<int[]>();
        for (int at = 0; at + length <= stream.Count; at += length) sequences.Add(stream.GetRange(at, length).ToArray());
        return sequences;
    }

    /// <summary>Sequences of <paramref name="length"/> tokens the target samples at <paramref name="temperature"/> after
    /// each of <paramref name="prompts"/> in turn, <paramref name="count"/> in all, seeded.</summary>
    public static List<int[]> FromSelf(TransformerModel model, ITextTokenizer tokenizer, IReadOnlyList<string> prompts, int count, int length, int seed,
        Action<string>? progress = null, float temperature = 1f)
    {
        if (!(temperature > 0 && float.IsFinite(temperature))) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "the sampling temperature must be a positive number");
        float invTemperature = 1f / temperature;
        var scaled = new float[model.Config.VocabSize];
        var rng = new Random(seed);
        var encoded = prompts.Select(p => tokenizer.Encode(p, addSpecialTokens: true)).ToArray();
        using InferenceState state = model.CreateState(capacity: length, maxBatch: length);
        var probs = new float[model.Config.VocabSize];
        var sequences = new List<int[]>(count);
        for (int s = 0; s < count; s++)
        {
            int[] prompt = encoded[s % encoded.Length];
            if (prompt.Length >= length) throw new ArgumentException($"prompt '{prompts[s % prompts.Count]}' is longer than the sequence length {length}");
            var seq = new int[length];
            prompt.CopyTo(seq, 0);
            state.Cache.Truncate(0);
            ReadOnlySpan<float> logits = model.Forward(state, prompt, default, LogitsRows.Last);
            for (int t = prompt.Length; t < length; t++)
            {
                TensorPrimitives.Multiply(logits, invTemperature, scaled);
                Softmax(scaled, probs);
                double u = rng.NextDouble(), acc = 0;
                int next = probs.Length - 1;
                for (int i = 0; i < probs.Length; i++) { acc += probs[i]; if (u < acc) { next = i; break; } }
                seq[t] = next;
                if (t + 1 < length) logits = model.Forward(state, seq.AsSpan(t, 1), default, LogitsRows.Last);
            }
            sequences.Add(seq);
            if (progress != null && (s + 1) % 64 == 0) progress($"generated {s + 1}/{count} sequences");
        }
        return sequences;
    }
}
