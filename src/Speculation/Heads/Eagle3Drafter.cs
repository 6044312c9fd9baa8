using System.Numerics.Tensors;
using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Trees;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Drafts with an <see cref="Eagle3Head"/> from the target's own hidden states. The head's KV cache holds one
/// depth-0 entry per committed position t, made from the TRUE target features of t and the token x_{t+1}.
/// <see cref="OnTargetPass"/> (after each target pass) writes them for every kept row whose next token is known; the
/// last kept row's fc output waits as "pending" for the token the target chooses after it. <see cref="Propose"/> runs
/// that pending entry as the root of the round (it becomes the committed entry, and its logits predict the first
/// draft token), then feeds each depth's output back as g, writing the drafted nodes after the committed slots,
/// where the next round overwrites them. Greedy drafting takes the argmax of the draft vocabulary;
/// sampling draws from softmax over the draft vocabulary mapped to target ids through d2t (zeros elsewhere), the
/// q the lossless verifier needs. Trees (<c>dynamic:N</c> and <c>static:…</c>) keep the top candidates by path
/// probability, proposed deterministically.
/// </summary>
public sealed class Eagle3Drafter : IFeatureDrafter
{
    private const int StepRows = 128;           // most rows of one head step: a prefill chunk plus the pending row, or a tree level
    private readonly Eagle3Head _head;
    private readonly Eagle3State _s;
    private readonly IBackend _b;
    private readonly DeviceTensor _pendingG;     // [1, H] fc output of the last committed position (no entry yet)
    private readonly int[] _known;               // [capacity + 1] tokens of the sequence as the drafter knows it (-1: unseen)
    private int _knownLength;
    private readonly int[] _entryPosition;       // [capacity] committed position of each head-cache slot (ascending)
    private int _entries;                        // committed head-cache slots
    private int _pendingPosition = -1;           // position whose fc output sits in _pendingG, -1: none
    private readonly int[] _tokens = new int[StepRows];
    private readonly int[] _positions = new int[StepRows];
    private readonly int[] _parents = new int[StepRows];
    private readonly int[] _rows = new int[StepRows];
    private readonly Sampler _sampler;           // over the draft vocabulary, the generation's options
    private readonly float[] _qDraft;            // [Vd]
    private readonly float[] _qTarget;           // [V]
    private readonly EagleTreeGrower _trees;
    private bool _disposed;

    /// <summary>Drafts with <paramref name="head"/> (which the drafter then owns) on sequences of up to
    /// <paramref name="capacity"/> tokens, sampling with <paramref name="options"/> when they are not greedy.</summary>
    public Eagle3Drafter(Eagle3Head head, int capacity, SamplingOptions options, string name)
    {
        _head = head;
        _b = head.Backend;
        _s = head.CreateState(capacity + TreeSpec.MaxNodes + 2, StepRows);
        _pendingG = _b.Allocate(DType.F32, 1, head.Config.HiddenSize);
        _known = new int[capacity + 1];
        _entryPosition = new int[capacity + 1];
        _sampler = new Sampler(head.DraftVocabSize, options with { Seed = options.Seed ^ 0x2545F4914F6CDD1DUL });
        _qDraft = new float[head.DraftVocabSize];
        _qTarget = new float[head.TargetVocabSize];
        _trees = new EagleTreeGrower(head, TreeSpec.MaxNodes + 1);
        MaxSequenceLength = capacity;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int VocabSize => _head.TargetVocabSize;

    /// <inheritdoc />
    public int? MaxSequenceLength { get; }

    /// <summary>The head.</summary>
    public Eagle3Head Head => _head;

    /// <inheritdoc />
    public TargetFeatureRequest? FeatureRequest => _head.FeatureRequest;

    /// <summary>Committed head-cache entries, for tests.</summary>
    internal int Entries => _entries;

    /// <summary>Tokens the drafter knows the sequence by, for tests.</summary>
    internal int KnownLength => _knownLength;

    /// <summary>The head's run state, for tests.</summary>
    internal Eagle3State State => _s;

    /// <inheritdoc />
    public void Reset()
    {
        _knownLength = 0;
        _entries = 0;
        _pendingPosition = -1;
    }

    /// <inheritdoc />
    public void OnTargetPass(in TargetPass pass)
    {
        int start = pass.StartPosition;
        ReadOnlySpan<int> kept = pass.KeptRows;
        int m = kept.Length;
        if (start + m > _known.Length - 1) throw new InvalidOperationException($"the sequence outgrew the drafter's context of {MaxSequenceLength}");
        int first = pass.Tokens[kept[0]];

        // The pass replaces positions from start on: drop what depended on them. The entry of start - 1 used x_start.
        bool sameNext = start < _knownLength && _known[start] == first;
        DropFrom(sameNext ? start : start - 1);
        if (_pendingPosition >= start) _pendingPosition = -1;
        for (int i = _knownLength; i < start; i++) _known[i] = -1; // positions no pass reported (a session's own edits)
        for (int i = 0; i < m; i++) _known[start + i] = pass.Tokens[kept[i]];
        _knownLength = start + m;

        // fc over the kept rows' features; each row but the last now has its next token, and so has the old pending row.
        _head.ComputeFc(_s, pass.Features, kept);
        int n = 0;
        if (_pendingPosition == start - 1 && start > 0)
        {
            _b.CopyRows(_pendingG, 0, _s.G, 0, 1);
            _tokens[0] = first;
            _positions[0] = start; // entry of position t sits at rotary position t + 1
            n = 1;
        }
        if (m > 1) _b.CopyRows(_s.Fc, 0, _s.G, n, m - 1);
        for (int i = 0; i < m - 1; i++)
        {
            _tokens[n + i] = pass.Tokens[kept[i + 1]];
            _positions[n + i] = start + i + 1;
        }
        n += m - 1;
        if (n > 0)
        {
            for (int i = 0; i < n; i++) _parents[i] = i - 1;
            _head.Step(_s, n, _tokens.AsSpan(0, n), _positions.AsSpan(0, n), _entries, _parents.AsSpan(0, n));
            for (int i = 0; i < n; i++) _entryPosition[_entries + i] = _positions[i] - 1;
            _entries += n;
        }
        _b.CopyRows(_s.Fc, m - 1, _pendingG, 0, 1);
        _pendingPosition = start + m - 1;
    }

    /// <summary>Drops the head entries of positions ≥ <paramref name="position"/>.</summary>
    private void DropFrom(int position)
    {
        while (_entries > 0 && _entryPosition[_entries - 1] >= position) _entries--;
    }

    /// <inheritdoc />
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        int length = sequence.Length;
        Reconcile(sequence);
        // The root needs the target features of the position before the pending token.
        int t = length - 2;
        if (t < 0 || _pendingPosition != t) return;
        int room = _s.Cache.Capacity - _entries - 1;
        int k = Math.Min(request.MaxDepth, Math.Min(room, _head.TargetVocabSize));
        if (k <= 0 || request.MaxNodes <= 0) return;

        // Root: the pending entry with the pending token. Its next token is now known, so its keys are the committed
        // entry of position t: keep them (the next pass does not recompute them; a changed sequence drops them).
        _b.CopyRows(_pendingG, 0, _s.G, 0, 1);
        _tokens[0] = sequence[length - 1];
        _positions[0] = length - 1;
        _parents[0] = -1;
        _head.Step(_s, 1, _tokens.AsSpan(0, 1), _positions.AsSpan(0, 1), _entries, _parents.AsSpan(0, 1));
        _entryPosition[_entries++] = t;
        _pendingPosition = -1;
        _known[length - 1] = sequence[length - 1];
        _knownLength = length;
        if (request.Tree is TreeSpec spec)
            _trees.Grow(_s, _entries - 1, length, spec, k, request.MaxNodes, tree);
        else
            ProposeChain(length, Math.Min(k, Math.Min(request.MaxNodes, tree.Capacity)), tree);
    }

    private void ProposeChain(int length, int k, DraftTree tree)
    {
        bool sampling = !_sampler.Options.IsGreedy;
        int parent = -1;
        ReadOnlySpan<int> d2t = _head.DraftToTarget;
        for (int j = 0; j < k; j++)
        {
            ReadOnlySpan<float> logits = _head.ReadLogits(_s, 1);
            int draft, distribution = -1;
            float probability;
            if (sampling)
            {
                if (!_sampler.TryDistribution(logits, _qDraft)) return;
                draft = _sampler.SampleFrom(_qDraft);
                probability = _qDraft[draft];
                _qTarget.AsSpan().Clear();
                for (int d = 0; d < _qDraft.Length; d++) _qTarget[d2t[d]] = _qDraft[d];
                distribution = tree.AddDistribution(_qTarget);
            }
            else
            {
                draft = Sampler.ArgMax(logits);
                probability = SoftmaxAt(logits, draft, _qDraft);
            }
            int token = d2t[draft];
            parent = tree.Add(token, parent, probability, distribution);
            if (j == k - 1) break;
            // Next depth: g = the step's output (or h2), the drafted token, one position on, attending to every slot before.
            _rows[0] = 0;
            _head.FeedBack(_s, _rows.AsSpan(0, 1));
            _tokens[0] = token;
            _positions[0] = length + j;
            _head.Step(_s, 1, _tokens.AsSpan(0, 1), _positions.AsSpan(0, 1), _entries + j, _parents.AsSpan(0, 1));
        }
    }

    /// <summary>Keeps what matches the longest common prefix of <paramref name="sequence"/> and what the drafter knows.</summary>
    private void Reconcile(ReadOnlySpan<int> sequence)
    {
        int limit = Math.Min(sequence.Length, _knownLength);
        int common = 0;
        while (common < limit && (_known[common] == sequence[common] || _known[common] < 0))
        {
            _known[common] = sequence[common];
            common++;
        }
        if (common == _knownLength) return;
        // An entry of position t used x_0..x_{t+1}; the pending fc output of t used x_0..x_t.
        DropFrom(common - 1);
        if (_pendingPosition >= common) _pendingPosition = -1;
        _knownLength = common;
    }

    /// <summary>softmax(logits)[index], using <paramref name="work"/> ([logits.Length]) as scratch.</summary>
    internal static float SoftmaxAt(ReadOnlySpan<float> logits, int index, Span<float> work)
    {
        TensorPrimitives.SoftMax(logits, work);
        return work[index];
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _trees.Dispose();
        _pendingG.Dispose();
        _s.Dispose();
        _head.Dispose();
    }
}
