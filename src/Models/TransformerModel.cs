using SpecCore.Kernels;
using SpecCore.Kernels.Sampling;
using SpecCore.Models.Families;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Which rows of a forward pass get logits.</summary>
public enum LogitsRows
{
    /// <summary>Every new token (verification).</summary>
    All,
    /// <summary>Only the last new token (prefill, plain decoding): skips the LM head for the others.</summary>
    Last,
}

/// <summary>The weights of one transformer block on a backend; optional tensors are null when the family
/// or config has none.</summary>
internal sealed class LayerWeights
{
    public required DeviceTensor AttentionNorm { get; init; } // [dim] F32
    public required DeviceTensor Wq { get; init; }            // [heads * headDim, dim]
    public required DeviceTensor Wk { get; init; }            // [kvHeads * headDim, dim]
    public required DeviceTensor Wv { get; init; }            // [kvHeads * headDim, dim]
    public required DeviceTensor Wo { get; init; }            // [dim, heads * headDim]
    public DeviceTensor? Bq { get; init; }                    // [heads * headDim] F32
    public DeviceTensor? Bk { get; init; }                    // [kvHeads * headDim] F32
    public DeviceTensor? Bv { get; init; }                    // [kvHeads * headDim] F32
    public DeviceTensor? Bo { get; init; }                    // [dim] F32
    public DeviceTensor? QNorm { get; init; }                 // [headDim] F32
    public DeviceTensor? KNorm { get; init; }                 // [headDim] F32
    public required DeviceTensor MlpNorm { get; init; }       // [dim] F32
    public required DeviceTensor WGate { get; init; }         // [ffn, dim]
    public required DeviceTensor WUp { get; init; }           // [ffn, dim]
    public required DeviceTensor WDown { get; init; }         // [dim, ffn]
    public DeviceTensor? BGate { get; init; }                 // [ffn] F32
    public DeviceTensor? BUp { get; init; }                   // [ffn] F32
    public DeviceTensor? BDown { get; init; }                 // [dim] F32
    public int Window { get; init; }                          // sliding-window width, 0: full attention

    /// <summary>[Wq, Wk, Wv]: the projections of the attention's normed input, run as one matmul group.</summary>
    public DeviceTensor[] Qkv => _qkv ??= [Wq, Wk, Wv];

    /// <summary>[WGate, WUp]: the projections of the MLP's normed input, run as one matmul group.</summary>
    public DeviceTensor[] GateUp => _gateUp ??= [WGate, WUp];

    private DeviceTensor[]? _qkv;
    private DeviceTensor[]? _gateUp;
}

/// <summary>A decoder-only transformer (RMSNorm, rotary attention with grouped-query heads, SwiGLU MLP)
/// on a backend, with the optional steps the model families switch on (projection biases, per-head q/k
/// norms, sliding-window attention; see <see cref="Families.ModelFamily"/>). One <see cref="Forward"/> call serves prefill, single-token decoding, chain
/// verification and tree verification.</summary>
public sealed class TransformerModel : IDisposable
{
    private readonly LayerWeights[] _layers;
    private readonly DeviceTensor _embedding;   // [vocab, dim]
    private readonly DeviceTensor _finalNorm;   // [dim] F32
    private readonly DeviceTensor _lmHead;      // [vocab, dim] (the embedding when tied)
    private readonly RopeTable _rope;
    private readonly List<IDisposable> _owned;

    private TransformerModel(ModelConfig config, IBackend backend, LayerWeights[] layers, DeviceTensor embedding,
        DeviceTensor finalNorm, DeviceTensor lmHead, List<IDisposable> owned, long streamedBytes, long streamedElements, DType weightType, DType kvType)
    {
        KvCacheType = kvType;
        Config = config;
        Backend = backend;
        _layers = layers;
        _embedding = embedding;
        _finalNorm = finalNorm;
        _lmHead = lmHead;
        _owned = owned;
        StreamedWeightBytes = streamedBytes;
        StreamedWeightElements = streamedElements;
        WeightType = weightType;
        _rope = backend.CreateRopeTable(config.RopeInverseFrequencies(), config.MaxPositions);
    }

    /// <summary>The model's hyper-parameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>The backend the model runs on.</summary>
    public IBackend Backend { get; }

    /// <summary>The token embedding table ([vocab, dim] on the backend), which a draft head without its own
    /// embedding looks tokens up in.</summary>
    public DeviceTensor EmbeddingTable => _embedding;

    /// <summary>Dtype of the matrices as used by the kernels.</summary>
    public DType WeightType { get; }

    /// <summary>Element type of the KV caches of this model's states: F32 or F16.</summary>
    public DType KvCacheType { get; }

    /// <summary>Weights above which a model's KV cache defaults to F16: a model this large runs long contexts where the
    /// cache's bytes count, and is not one of the tiny test models whose references are checked in F32.</summary>
    public const long F16KvCacheThreshold = 256L * 1024 * 1024;

    /// <summary>Bytes of weights read to decode one token: every matrix and norm, not the embedding table
    /// (only indexed) unless it doubles as the LM head.</summary>
    public long StreamedWeightBytes { get; }

    /// <summary>Number of weights read to decode one token (the parameters counted in <see cref="StreamedWeightBytes"/>).</summary>
    public long StreamedWeightElements { get; }

    /// <summary>Builds a model from weights, converting matrices to <paramref name="weightType"/> when given
    /// (weights otherwise keep their stored dtype). KV caches hold <paramref name="kvType"/> (F32 or F16; default: F16
    /// for models of more than <see cref="F16KvCacheThreshold"/> bytes of weights on a backend that supports it, else F32).
    /// The weight source must outlive the model on backends that use host memory in place (the CPU).</summary>
    /// <exception cref="NotSupportedException">An F16 KV cache was asked for on a backend without one.</exception>
    public static TransformerModel Create(ModelConfig config, IWeightSource weights, IBackend backend, DType? weightType = null, DType? kvType = null)
    {
        if (kvType is DType k && k is not (DType.F32 or DType.F16)) throw new ArgumentException($"a KV cache holds f32 or f16, not {k.Name()}", nameof(kvType));
        if (kvType == DType.F16 && !backend.SupportsF16KvCache)
            throw new NotSupportedException($"the {backend.Name} backend keeps its KV cache in f32 only; use an f32 KV cache or the cpu backend");
        var owned = new List<IDisposable>();
        var uploaded = new List<DeviceTensor>();
        long streamed = 0;
        long elements = 0;
        DType? resolvedType = weightType;

        DeviceTensor Upload(HostTensor t)
        {
            streamed += t.ByteLength;
            elements += t.ElementCount;
            DeviceTensor d = backend.UploadWeight(t);
            uploaded.Add(d);
            return d;
        }

        DeviceTensor Matrix(WeightSpec spec)
        {
            HostTensor t = weights.Get(spec.Name, spec.Rows, spec.Cols);
            WeightConversion.CheckFinite(t, weights.Description, refuseAllZero: true);
            var converted = new List<IDisposable>(1);
            try
            {
                if (weightType is DType target)
                {
                    try
                    {
                        t = WeightConversion.Convert(t, target, converted);
                    }
                    catch (InvalidDataException e)
                    {
                        throw new InvalidDataException($"{weights.Description}: {e.Message}");
                    }
                }
                resolvedType ??= t.DType;
                DeviceTensor d = Upload(t);
                // A backend that made its own copy (a GPU, the CPU's int8 layout) no longer needs the converted one.
                if (d.ReadsUploadedMemory)
                {
                    owned.AddRange(converted);
                    converted.Clear();
                }
                return d;
            }
            finally
            {
                foreach (var c in converted) c.Dispose();
            }
        }

        // Norm scales must not be all zero (that zeroes every activation); biases may be.
        DeviceTensor Vector(WeightSpec spec)
        {
            HostTensor stored = weights.Get(spec.Name, spec.Rows);
            WeightConversion.CheckFinite(stored, weights.Description, refuseAllZero: spec.Kind == WeightKind.Norm);
            return Upload(WeightConversion.Convert(stored, DType.F32, owned));
        }

        DeviceTensor? Optional(WeightSpec? spec) => spec is { } s ? Vector(s) : null;

        try
        {
            var layers = new LayerWeights[config.Layers];
            for (int l = 0; l < config.Layers; l++)
            {
                LayerWeightSpecs w = WeightMap.Layer(config, l);
                layers[l] = new LayerWeights
                {
                    AttentionNorm = Vector(w.AttentionNorm),
                    Wq = Matrix(w.Wq),
                    Bq = Optional(w.Bq),
                    Wk = Matrix(w.Wk),
                    Bk = Optional(w.Bk),
                    Wv = Matrix(w.Wv),
                    Bv = Optional(w.Bv),
                    Wo = Matrix(w.Wo),
                    Bo = Optional(w.Bo),
                    QNorm = Optional(w.QNorm),
                    KNorm = Optional(w.KNorm),
                    MlpNorm = Vector(w.MlpNorm),
                    WGate = Matrix(w.WGate),
                    BGate = Optional(w.BGate),
                    WUp = Matrix(w.WUp),
                    BUp = Optional(w.BUp),
                    WDown = Matrix(w.WDown),
                    BDown = Optional(w.BDown),
                    Window = config.WindowOf(l),
                };
            }
            DeviceTensor finalNorm = Vector(WeightMap.FinalNorm(config));

            bool tied = config.TieWordEmbeddings || !weights.Contains(WeightMap.LmHead(config).Name);
            DeviceTensor embedding, lmHead;
            if (tied)
            {
                // One table serves both: it is streamed once per token as the LM head.
                embedding = lmHead = Matrix(WeightMap.Embedding(config));
            }
            else
            {
                long before = streamed, beforeElements = elements;
                embedding = Matrix(WeightMap.Embedding(config));
                streamed = before; // the embedding table is only indexed
                elements = beforeElements;
                lmHead = Matrix(WeightMap.LmHead(config));
            }

            owned.AddRange(uploaded);
            DType cacheType = kvType ?? (streamed > F16KvCacheThreshold && backend.SupportsF16KvCache ? DType.F16 : DType.F32);
            return new TransformerModel(config, backend, layers, embedding, finalNorm, lmHead, owned, streamed, elements, resolvedType ?? DType.F32, cacheType);
        }
        catch
        {
            foreach (var d in uploaded) d.Dispose();
            foreach (var o in owned) o.Dispose();
            throw;
        }
    }

    /// <summary>KV-cache capacity of a state when none is asked for: the model's context, but at most this, so a
    /// 128k-context model does not allocate its whole cache up front.</summary>
    public const int DefaultContext = 4096;

    /// <summary>The KV-cache capacity a state gets when none is asked for: the model's context, at most
    /// <see cref="DefaultContext"/>.</summary>
    public int DefaultCapacity => Math.Min(Config.MaxPositions, DefaultContext);

    /// <summary>Creates the run state of one sequence: a KV cache of <paramref name="capacity"/> tokens
    /// (default: the model's context or <see cref="DefaultContext"/>, whichever is smaller; maximum: the
    /// model's context) and buffers for batches of up to <paramref name="maxBatch"/>. With
    /// <paramref name="features"/> every forward pass also keeps those hidden states in
    /// <see cref="InferenceState.Features"/> (for a draft head); without, it keeps nothing and costs nothing extra.</summary>
    public InferenceState CreateState(int? capacity = null, int maxBatch = 64, TargetFeatureRequest? features = null)
    {
        int cap = capacity ?? DefaultCapacity;
        if (cap < 1 || cap > Config.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"capacity {cap} must be between 1 and the model's context {Config.MaxPositions}");
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
        features?.Validate(Config.Layers);
        return new InferenceState(Backend, Config, cap, Math.Min(maxBatch, cap), KvCacheType, features);
    }

    /// <summary>
    /// Runs the model over new tokens appended to the sequence in <paramref name="state"/> and returns their
    /// logits ([rows, vocab], a view into the state valid until the next call). <paramref name="parents"/>
    /// gives each token's parent within the batch (-1: the committed prefix) for token trees; empty means a
    /// causal chain. Token i is placed at position prefix + depth(i) and its keys and values are appended to
    /// the cache at slot prefix + i; afterwards the caller keeps what it accepts with
    /// <see cref="KvCache.Truncate"/> or <see cref="KvCache.Compact"/>.
    /// </summary>
    public ReadOnlySpan<float> Forward(InferenceState state, ReadOnlySpan<int> tokens, ReadOnlySpan<int> parents = default,
        LogitsRows logitsRows = LogitsRows.All)
    {
        int n = tokens.Length;
        RunLayers(state, tokens, parents);
        int rows = logitsRows == LogitsRows.Last ? 1 : n;
        ComputeLogits(state, n, rows);
        Span<float> logits = state.Logits.AsSpan(0, rows * Config.VocabSize);
        Backend.Read(state.DeviceLogits, logits);
        return logits;
    }

    /// <summary>
    /// Runs new token-tree tokens whose parents may be tree rows that earlier calls left in the cache, and returns their
    /// logits like <see cref="Forward"/>. Cache rows [0, <paramref name="sharedLength"/>) are the sequence every token
    /// sees; rows [<paramref name="sharedLength"/>, cache length) are earlier tree tokens, seen only by their descendants.
    /// <paramref name="treeParents"/> gives the parent of every tree row counted from <paramref name="sharedLength"/>: the
    /// cached tree rows' first, then one per new token (-1: hangs off the sequence). Token i is placed at position
    /// sharedLength + its depth in the tree − 1 and its keys and values at slot cache length + i, so a tree is drafted
    /// level by level without running any path twice.
    /// </summary>
    public ReadOnlySpan<float> ForwardTree(InferenceState state, ReadOnlySpan<int> tokens, int sharedLength, ReadOnlySpan<int> treeParents,
        LogitsRows logitsRows = LogitsRows.All)
    {
        int n = tokens.Length;
        if (sharedLength < 0 || sharedLength > state.Cache.Length)
            throw new ArgumentOutOfRangeException(nameof(sharedLength), sharedLength, $"shared rows must be between 0 and the cache length {state.Cache.Length}");
        if (treeParents.Length != state.Cache.Length - sharedLength + n)
            throw new ArgumentException($"tree parents must cover the {state.Cache.Length - sharedLength} cached tree rows and the {n} new tokens", nameof(treeParents));
        RunLayers(state, tokens, treeParents, sharedLength);
        int rows = logitsRows == LogitsRows.Last ? 1 : n;
        ComputeLogits(state, n, rows);
        Span<float> logits = state.Logits.AsSpan(0, rows * Config.VocabSize);
        Backend.Read(state.DeviceLogits, logits);
        return logits;
    }

    /// <summary>
    /// Runs the model over new tokens like <see cref="Forward"/>, then samples on the backend instead of
    /// returning logits: <paramref name="result"/> gets one token for each of the last
    /// <c>result.Length</c> tokens of the batch (1: the next token, as <see cref="LogitsRows.Last"/>; all:
    /// one per row, as for verification), chosen with <see cref="IBackend.SampleTokens"/> under
    /// <paramref name="options"/> with <c>uniforms[i]</c> (from <see cref="Sampler.DrawUniforms"/>; may be
    /// empty when greedy). The LM head runs only for those rows and only token ids reach the host.
    /// </summary>
    public void ForwardSample(InferenceState state, ReadOnlySpan<int> tokens, ReadOnlySpan<int> parents,
        SamplingOptions options, ReadOnlySpan<float> uniforms, Span<int> result)
    {
        int n = tokens.Length;
        int rows = result.Length;
        if (rows < 1 || rows > n) throw new ArgumentException($"result must have 1..{n} entries (one per sampled row), got {rows}", nameof(result));
        if (!options.IsGreedy && uniforms.Length < rows) throw new ArgumentException($"{rows} sampled rows need {rows} uniforms, got {uniforms.Length}", nameof(uniforms));
        RunLayers(state, tokens, parents);
        ComputeLogits(state, n, rows);
        Backend.SampleTokens(state.DeviceLogits, rows, options, uniforms, result);
    }

    /// <summary>The transformer blocks over a batch: leaves the final residual stream in state.X ([n, dim])
    /// and the batch's keys and values in the cache. With <paramref name="sharedLength"/> (else the whole cache is
    /// shared), <paramref name="parents"/> covers the cached tree rows after it too (see <see cref="ForwardTree"/>).</summary>
    private void RunLayers(InferenceState state, ReadOnlySpan<int> tokens, ReadOnlySpan<int> parents, int sharedLength = -1)
    {
        int n = tokens.Length;
        if (n == 0) throw new ArgumentException("forward needs at least one token", nameof(tokens));
        if (n > state.MaxBatch) throw new ArgumentException($"{n} tokens exceed the batch size {state.MaxBatch} of this state", nameof(tokens));
        int prefix = state.Cache.Length;
        if (prefix + n > state.Cache.Capacity)
            throw new InvalidOperationException($"sequence of {prefix + n} tokens exceeds the context of {state.Cache.Capacity}");
        if (sharedLength < 0) sharedLength = prefix;
        int cachedTree = prefix - sharedLength; // earlier tree rows in the cache: region rows [0, cachedTree)
        if (parents.IsEmpty && cachedTree == 0) parents = state.ChainParents.AsSpan(0, n);
        else if (parents.Length != cachedTree + n) throw new ArgumentException("parents must have one entry per token", nameof(parents));

        Span<int> positions = state.Positions.AsSpan(0, n);
        for (int i = 0; i < n; i++)
        {
            int p = parents[cachedTree + i];
            if (p >= cachedTree + i || p < -1) throw new ArgumentException($"parent {p} of token {i} must be -1 or an earlier token", nameof(parents));
            if (p < 0) positions[i] = sharedLength;
            else if (p >= cachedTree) positions[i] = positions[p - cachedTree] + 1;
            else
            {
                // A parent left in the cache by an earlier call: its position is the shared length plus its depth.
                int position = sharedLength;
                for (int j = p; j >= 0; j = parents[j])
                {
                    if (parents[j] >= j || parents[j] < -1) throw new ArgumentException($"parent {parents[j]} of cached tree row {j} must be -1 or an earlier row", nameof(parents));
                    position++;
                }
                positions[i] = position;
            }
        }

        ModelConfig c = Config;
        IBackend b = Backend;
        TargetFeatures? features = state.Features;
        b.Embed(_embedding, tokens, state.X);
        for (int l = 0; l < _layers.Length; l++)
        {
            LayerWeights w = _layers[l];
            features?.CaptureLayerInput(l, state.X, n);

            // Attention: x += Wo · attend(rope(norm_h(Wq·norm(x))), cache ∪ rope(norm_h(Wk·norm(x))), Wv·norm(x)),
            // with biases and per-head norms where the family has them.
            b.RmsNorm(state.X, w.AttentionNorm, state.Normed, n, c.RmsNormEps);
            b.MatMulGroup(state.Normed, w.Qkv, state.Qkv, n);
            if (w.Bq != null) b.AddBias(state.Q, w.Bq, n);
            if (w.Bk != null) b.AddBias(state.K, w.Bk, n);
            if (w.Bv != null) b.AddBias(state.V, w.Bv, n);
            if (w.QNorm != null) b.HeadRmsNorm(state.Q, w.QNorm, n, c.Heads, c.RmsNormEps);
            if (w.KNorm != null) b.HeadRmsNorm(state.K, w.KNorm, n, c.KvHeads, c.RmsNormEps);
            b.Rope(state.Q, n, c.Heads, c.HeadDim, positions, _rope);
            b.Rope(state.K, n, c.KvHeads, c.HeadDim, positions, _rope);
            b.CopyRows(state.K, 0, state.Cache.Keys(l), prefix, n);
            b.CopyRows(state.V, 0, state.Cache.Values(l), prefix, n);
            b.Attention(state.Q, state.Cache.Keys(l), state.Cache.Values(l), state.Attended, c.Heads, c.KvHeads, c.HeadDim,
                new AttentionBatch(sharedLength, prefix, parents, w.Window));
            b.MatMul(state.Attended, w.Wo, state.Delta, n);
            if (w.Bo != null) b.AddBias(state.Delta, w.Bo, n);
            b.Add(state.X, state.Delta, n);

            // MLP: x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
            b.RmsNorm(state.X, w.MlpNorm, state.Normed, n, c.RmsNormEps);
            b.MatMulGroup(state.Normed, w.GateUp, state.GateUp, n);
            if (w.BGate != null) b.AddBias(state.Gate, w.BGate, n);
            if (w.BUp != null) b.AddBias(state.Up, w.BUp, n);
            b.SwiGlu(state.Gate, state.Up, n);
            b.MatMul(state.Gate, w.WDown, state.Delta, n);
            if (w.BDown != null) b.AddBias(state.Delta, w.BDown, n);
            b.Add(state.X, state.Delta, n);
        }
        if (features != null) KeepFinalFeatures(features, state.X, n);
        state.Cache.Length = prefix + n;
    }

    /// <summary>The features taken after the last layer: its output (layer index = layer count) and the final
    /// post-norm hidden state of every row (the LM head may run for the last row only).</summary>
    private void KeepFinalFeatures(TargetFeatures features, DeviceTensor x, int n)
    {
        features.CaptureLayerInput(_layers.Length, x, n);
        if (features.FinalHidden != null) Backend.RmsNorm(x, _finalNorm, features.FinalHidden, n, Config.RmsNormEps);
        features.Rows = n;
    }

    /// <summary>Final norm and LM head for the last <paramref name="rows"/> of the batch's <paramref name="n"/>
    /// rows: logits land in rows [0, rows) of state.DeviceLogits ([rows, vocab]).</summary>
    private void ComputeLogits(InferenceState state, int n, int rows)
    {
        IBackend b = Backend;
        DeviceTensor finalInput = state.X;
        if (rows < n)
        {
            b.CopyRows(state.X, n - rows, state.Delta, 0, rows);
            finalInput = state.Delta;
        }
        b.RmsNorm(finalInput, _finalNorm, state.Normed, rows, Config.RmsNormEps);
        b.MatMul(state.Normed, _lmHead, state.DeviceLogits, rows);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _rope.Dispose();
        foreach (var o in _owned) o.Dispose();
    }
}
