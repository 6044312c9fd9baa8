using System.Numerics.Tensors;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Drafters;

/// <summary>
/// Drafts with a smaller model that shares the target's tokenizer. The draft model keeps its own KV cache;
/// before each round it cuts the cache back to the longest prefix it shares with the sequence (the accepted
/// draft tokens stay, nothing accepted is recomputed) and runs only the tokens it has not seen.
/// </summary>
public sealed class DraftModelDrafter : IDrafter
{
    private readonly TransformerModel _model;
    private readonly InferenceState _state;
    private readonly Sampler _sampler;
    private readonly float[] _q;          // [vocab] the draft distribution at the current position
    private readonly List<int> _cached;          // tokens whose keys/values are in the draft cache, in order
    private readonly int[] _one = new int[1];

    /// <summary>Creates a drafter over <paramref name="model"/>, sampling with the target's
    /// <paramref name="options"/> (so that p and q are filtered alike) from its own random stream.</summary>
    public DraftModelDrafter(TransformerModel model, SamplingOptions options, string name, int? capacity = null)
    {
        _model = model;
        _state = model.CreateState(capacity);
        _cached = new List<int>(_state.Cache.Capacity);
        _sampler = new Sampler(model.Config.VocabSize, options with { Seed = options.Seed ^ 0x5DEECE66DUL });
        _q = new float[model.Config.VocabSize];
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int VocabSize => _model.Config.VocabSize;

    /// <inheritdoc />
    public int? MaxSequenceLength => _state.Cache.Capacity;

    /// <summary>The draft model.</summary>
    public TransformerModel Model => _model;

    /// <inheritdoc />
    public void Reset()
    {
        _state.Cache.Truncate(0);
        _cached.Clear();
    }

    /// <inheritdoc />
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        int k = Math.Min(request.MaxDepth, Math.Min(request.MaxNodes, tree.Capacity));
        // The draft feeds k - 1 of its own tokens after the sequence: keep inside its context.
        k = Math.Min(k, _state.Cache.Capacity - sequence.Length + 1);
        if (k <= 0) return;

        ReadOnlySpan<float> logits = CatchUp(sequence);
        bool sampling = !_sampler.Options.IsGreedy;
        int parent = -1;
        for (int j = 0; j < k; j++)
        {
            int token;
            float probability;
            int distribution = -1;
            if (sampling)
            {
                _sampler.Distribution(logits, _q);
                token = _sampler.SampleFrom(_q);
                probability = _q[token];
                distribution = tree.AddDistribution(_q);
            }
            else
            {
                token = Sampler.ArgMax(logits);
                probability = SoftmaxProbabilityOfMax(logits);
            }
            parent = tree.Add(token, parent, probability, distribution);
            if (j == k - 1) break;
            _one[0] = token;
            logits = _model.Forward(_state, _one, default, LogitsRows.Last);
            _cached.Add(token);
        }
    }

    /// <summary>Brings the draft cache in line with <paramref name="sequence"/> and returns the logits after its last token.</summary>
    private ReadOnlySpan<float> CatchUp(ReadOnlySpan<int> sequence)
    {
        int common = 0;
        int max = Math.Min(_cached.Count, sequence.Length);
        while (common < max && _cached[common] == sequence[common]) common++;
        // The logits after the last token are needed, so at least that token is run.
        if (common == sequence.Length) common--;
        _state.Cache.Truncate(common);
        _cached.RemoveRange(common, _cached.Count - common);

        ReadOnlySpan<float> logits = default;
        for (int start = common; start < sequence.Length; start += _state.MaxBatch)
        {
            int n = Math.Min(_state.MaxBatch, sequence.Length - start);
            logits = _model.Forward(_state, sequence.Slice(start, n), default, LogitsRows.Last);
            for (int i = start; i < start + n; i++) _cached.Add(sequence[i]);
        }
        return logits;
    }

    private static float SoftmaxProbabilityOfMax(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        float sum = 0;
        foreach (float l in logits) sum += MathF.Exp(l - max);
        return 1f / sum;
    }

    /// <inheritdoc />
    public void Dispose() => _state.Dispose();
}
