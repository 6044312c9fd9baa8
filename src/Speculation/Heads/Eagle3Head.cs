using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// An EAGLE-3 draft head on the target's backend: fc over the three target features (3·H → H, with EAGLE 3.1's
/// per-feature RMSNorm when the head has it), one decoder layer whose attention input is
/// cat(input_layernorm(embed(token)), hidden_norm(g)), the final norm, and an LM head over the reduced draft
/// vocabulary (draft id d is target id d + d2t[d]), optionally low-rank. Loads EAGLE's <c>midlayer.*</c> and
/// speculators' <c>layers.0.*</c> layouts. Concatenations are never built: fc.weight and the q/k/v projections are
/// split by columns at load time, so W·cat(a, b) = W_a·a + W_b·b runs as plain backend matmuls.
/// </summary>
public sealed class Eagle3Head : IDisposable
{
    private readonly HeadTensors _tensors;
    private readonly IBackend _b;
    private readonly DeviceTensor[] _fc;        // 3 × [H, H]: the column blocks of fc.weight [H, 3H]
    private readonly DeviceTensor?[] _fcNorm;   // 3 × [H] F32 (EAGLE 3.1), null without
    private readonly DeviceTensor _embedding;   // [targetVocab, H]: the head's own or the target's
    private readonly DeviceTensor _inputNorm, _hiddenNorm, _postNorm, _norm; // [H] F32
    private readonly DeviceTensor _wqE, _wqG;   // [heads·hd, H]: q_proj's columns over the embedding / over g
    private readonly DeviceTensor _wkE, _wkG;   // [kvHeads·hd, H]
    private readonly DeviceTensor _wvE, _wvG;   // [kvHeads·hd, H]
    private readonly DeviceTensor _wo;          // [H, heads·hd]
    private readonly DeviceTensor _wGate, _wUp; // [ffn, H]
    private readonly DeviceTensor _wDown;       // [H, ffn]
    private readonly DeviceTensor[] _embedHalf;  // k, v, q columns over the embedding: one grouped matmul (outputs: Eagle3State.EmbedProducts)
    private readonly DeviceTensor[] _hiddenHalf; // k, v, q columns over g (outputs: Eagle3State.HiddenProducts)
    private readonly DeviceTensor[] _gateUp;     // gate, up
    private readonly DeviceTensor? _lmHead;     // [Vd, H] (full head)
    private readonly DeviceTensor? _lmU;        // [r, H] (low-rank head: logits = V·(U·out))
    private readonly DeviceTensor? _lmV;        // [Vd, r]
    private readonly RopeTable _rope;
    private readonly int[] _draftToTarget;      // [Vd] target id of each draft id

    private Eagle3Head(HeadTensors tensors, IBackend backend, Eagle3Config config, int[] aux, bool fcNorm, int draftVocab, int targetVocab,
        int[] draftToTarget, DeviceTensor[] fc, DeviceTensor?[] fcNormW, DeviceTensor embedding, DeviceTensor inputNorm, DeviceTensor hiddenNorm,
        DeviceTensor postNorm, DeviceTensor norm, DeviceTensor[] qkv, DeviceTensor wo, DeviceTensor gate, DeviceTensor up, DeviceTensor down,
        DeviceTensor? lmHead, DeviceTensor? lmU, DeviceTensor? lmV, RopeTable rope, string layout, long headBytes)
    {
        _tensors = tensors;
        _b = backend;
        Config = config;
        AuxLayers = aux;
        HasFcNorm = fcNorm;
        DraftVocabSize = draftVocab;
        TargetVocabSize = targetVocab;
        _draftToTarget = draftToTarget;
        _fc = fc;
        _fcNorm = fcNormW;
        _embedding = embedding;
        (_inputNorm, _hiddenNorm, _postNorm, _norm) = (inputNorm, hiddenNorm, postNorm, norm);
        (_wqE, _wqG, _wkE, _wkG, _wvE, _wvG) = (qkv[0], qkv[1], qkv[2], qkv[3], qkv[4], qkv[5]);
        (_wo, _wGate, _wUp, _wDown) = (wo, gate, up, down);
        _embedHalf = new[] { _wkE, _wvE, _wqE };
        _hiddenHalf = new[] { _wkG, _wvG, _wqG };
        _gateUp = new[] { _wGate, _wUp };
        (_lmHead, _lmU, _lmV) = (lmHead, lmU, lmV);
        _rope = rope;
        Layout = layout;
        LmHeadBytes = headBytes;
    }

    /// <summary>The backend the head runs on (the target's).</summary>
    public IBackend Backend => _b;

    /// <summary>The head's hyper-parameters.</summary>
    public Eagle3Config Config { get; }
    /// <summary>Target layers whose inputs the head reads, in concatenation order.</summary>
    public IReadOnlyList<int> AuxLayers { get; }
    /// <summary>Whether each feature is RMS-normed before fc (EAGLE 3.1).</summary>
    public bool HasFcNorm { get; }
    /// <summary>Rows of the draft LM head.</summary>
    public int DraftVocabSize { get; }
    /// <summary>The target's vocabulary.</summary>
    public int TargetVocabSize { get; }
    /// <summary>Target id of each draft id.</summary>
    public ReadOnlySpan<int> DraftToTarget => _draftToTarget;
    /// <summary>"midlayer" or "layers.0": the key layout the file used.</summary>
    public string Layout { get; }
    /// <summary>Bytes of the draft LM head read per draft step.</summary>
    public long LmHeadBytes { get; }
    /// <summary>The features the head needs from each target pass.</summary>
    public TargetFeatureRequest FeatureRequest => new(AuxLayers);

    /// <summary>Loads a head from <paramref name="path"/> (a folder with config.json and a *.safetensors, or the
    /// safetensors file with config.json beside it) for <paramref name="target"/>, its matrices as
    /// <paramref name="weightType"/> (default: as stored). A wrong shape, a missing key or a d2t entry outside the
    /// target's vocabulary is refused with one line naming the file and the key.</summary>
    public static Eagle3Head Load(string path, TransformerModel target, DType? weightType = null)
    {
        var (weightsPath, configPath) = HeadFiles.Resolve(path);
        Eagle3Config c = Eagle3Config.Load(configPath);
        ModelConfig tc = target.Config;
        if (c.HiddenSize != tc.HiddenSize)
            throw new InvalidDataException($"{configPath}: field 'hidden_size' is {c.HiddenSize} but the target's hidden size is {tc.HiddenSize}");
        int[] aux = c.AuxLayers ?? EagleFeatureLayers.For(tc.Layers);
        foreach (int l in aux)
            if (l > tc.Layers) throw new InvalidDataException($"{configPath}: field 'eagle_aux_hidden_state_layer_ids' names layer {l} but the target has {tc.Layers}");

        var t = new HeadTensors(weightsPath, target.Backend);
        try
        {
            string p;
            if (t.Contains("midlayer.self_attn.q_proj.weight")) p = "midlayer.";
            else if (t.Contains("layers.0.self_attn.q_proj.weight")) p = "layers.0.";
            else throw t.Error("tensor 'midlayer.self_attn.q_proj.weight' is missing (nor is the speculators layout's 'layers.0.self_attn.q_proj.weight' there)");
            int h = c.HiddenSize, q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim, ffn = c.IntermediateSize, v = tc.VocabSize;
            DType dtype = weightType ?? t.StoredType(p + "self_attn.q_proj.weight");
            if (!dtype.IsFloatingOrQuantized()) throw t.Error($"tensor '{p}self_attn.q_proj.weight' is {dtype.Name()}, expected F32, F16 or BF16");

            int vd = c.DraftVocabSize ?? (t.Contains("lm_head.weight") ? t.Get("lm_head.weight").Rows : v);
            if (vd > v) throw new InvalidDataException($"{configPath}: field 'draft_vocab_size' is {vd}, more than the target's {v} tokens");
            int[] d2t = DraftMap(t, vd, v);

            float[] fcAll = t.ReadF32("fc.weight", h, 3 * h);
            var fc = new DeviceTensor[3];
            for (int j = 0; j < 3; j++) fc[j] = t.UploadMatrix($"fc.weight[:, {j}]", HeadTensors.Columns(fcAll, h, 3 * h, j * h, h), h, h, dtype);
            bool fcNorm = c.FcNorm ?? t.Contains("fc_norm.0.weight");
            var fcNormW = new DeviceTensor?[3];
            if (fcNorm)
                for (int j = 0; j < 3; j++) fcNormW[j] = t.Vector($"fc_norm.{j}.weight", h);

            DeviceTensor embedding = t.Contains("embed_tokens.weight") ? t.Matrix("embed_tokens.weight", v, h, dtype) : target.EmbeddingTable;
            var qkv = new DeviceTensor[6];
            foreach (var (i, name, rows) in new[] { (0, "q_proj", q), (2, "k_proj", kv), (4, "v_proj", kv) })
            {
                float[] w = t.ReadF32($"{p}self_attn.{name}.weight", rows, 2 * h);
                qkv[i] = t.UploadMatrix(name + "[:, embed]", HeadTensors.Columns(w, rows, 2 * h, 0, h), rows, h, dtype);
                qkv[i + 1] = t.UploadMatrix(name + "[:, hidden]", HeadTensors.Columns(w, rows, 2 * h, h, h), rows, h, dtype);
            }

            DeviceTensor? lm = null, lmU = null, lmV = null;
            long headBytes;
            if (c.LmHeadRank is int r)
            {
                lmU = t.Matrix("lm_head.u.weight", r, h, dtype);
                lmV = t.Matrix("lm_head.v.weight", vd, r, dtype);
                headBytes = lmU.ByteLength + lmV.ByteLength;
            }
            else
            {
                lm = t.Matrix("lm_head.weight", vd, h, dtype);
                headBytes = lm.ByteLength;
            }

            var headConfig = tc with { HeadDim = c.HeadDim };
            RopeTable rope = target.Backend.CreateRopeTable(headConfig.RopeInverseFrequencies(), tc.MaxPositions + 1);
            return new Eagle3Head(t, target.Backend, c, aux, fcNorm, vd, v, d2t, fc, fcNormW, embedding,
                t.Vector(p + "input_layernorm.weight", h), t.Vector(p + "hidden_norm.weight", h),
                t.Vector(p + "post_attention_layernorm.weight", h), t.Vector("norm.weight", h), qkv,
                t.Matrix(p + "self_attn.o_proj.weight", h, q, dtype),
                t.Matrix(p + "mlp.gate_proj.weight", ffn, h, dtype), t.Matrix(p + "mlp.up_proj.weight", ffn, h, dtype),
                t.Matrix(p + "mlp.down_proj.weight", h, ffn, dtype), lm, lmU, lmV, rope, p.TrimEnd('.'), headBytes);
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>d2t as target ids, checked inside the target vocabulary and against t2d; the identity when the
    /// draft vocabulary is the target's and the file has neither table.</summary>
    private static int[] DraftMap(HeadTensors t, int vd, int v)
    {
        var map = new int[vd];
        if (vd == v && !t.Contains("d2t") && !t.Contains("t2d"))
        {
            for (int d = 0; d < vd; d++) map[d] = d;
            return map;
        }
        long[] d2t = t.ReadI64("d2t", vd);
        bool[] t2d = t.ReadBool("t2d", v);
        for (int d = 0; d < vd; d++)
        {
            long id = d + d2t[d];
            if (id < 0 || id >= v) throw t.Error($"tensor 'd2t' maps draft id {d} to target id {id}, outside the target's vocabulary of {v}");
            if (!t2d[id]) throw t.Error($"tensor 't2d' does not mark target id {id}, which 'd2t' maps draft id {d} to");
            map[d] = (int)id;
        }
        return map;
    }

    /// <summary>A run state for one sequence: the head's KV cache of <paramref name="capacity"/> slots and buffers
    /// for batches of up to <paramref name="maxBatch"/> rows.</summary>
    public Eagle3State CreateState(int capacity, int maxBatch) => new(_b, Config, DraftVocabSize, capacity, maxBatch);

    /// <summary>g = fc(cat(fc_norm_j(f_j))) for the target batch rows <paramref name="rows"/> of <paramref name="features"/>,
    /// into rows [0, rows.Length) of <c>state.Fc</c>.</summary>
    public void ComputeFc(Eagle3State s, TargetFeatures features, ReadOnlySpan<int> rows)
    {
        int m = rows.Length;
        for (int j = 0; j < 3; j++)
        {
            GatherRows(features.LayerInput(j), rows, s.Gathered);
            DeviceTensor input = s.Gathered;
            if (_fcNorm[j] is { } w)
            {
                _b.RmsNorm(s.Gathered, w, s.Normed, m, Config.RmsNormEps);
                input = s.Normed;
            }
            _b.MatMul(input, _fc[j], j == 0 ? s.Fc : s.Delta, m);
            if (j > 0) _b.Add(s.Fc, s.Delta, m);
        }
    }

    /// <summary>Copies rows <paramref name="rows"/> of <paramref name="source"/> to rows 0, 1, … of <paramref name="destination"/>,
    /// one copy per run of consecutive rows.</summary>
    internal void GatherRows(DeviceTensor source, ReadOnlySpan<int> rows, DeviceTensor destination)
    {
        int i = 0;
        while (i < rows.Length)
        {
            int run = 1;
            while (i + run < rows.Length && rows[i + run] == rows[i] + run) run++;
            _b.CopyRows(source, rows[i], destination, i, run);
            i += run;
        }
    }

    /// <summary>
    /// One head step over <paramref name="n"/> rows: row i has g in <c>state.G</c> row i, the token
    /// <paramref name="tokens"/>[i] and the rotary position <paramref name="positions"/>[i]; its keys and values land in
    /// the head cache at slot <paramref name="prefix"/> + i and it attends to slots [0, prefix) plus its ancestors
    /// in the batch (<paramref name="parents"/>). Leaves h2 (the layer output) in <c>state.G</c>, norm(h2) in
    /// <c>state.Out</c> and draft-vocabulary logits in <c>state.DeviceLogits</c> ([n, Vd]). With
    /// <paramref name="keysOnly"/> it stops once the keys and values are cached (committed positions whose output
    /// nobody reads).
    /// </summary>
    public void Step(Eagle3State s, int n, ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, int prefix, ReadOnlySpan<int> parents, bool keysOnly = false) =>
        Step(s, n, tokens, positions, prefix, prefix, parents, keysOnly);

    /// <summary>
    /// One head step like <see cref="Step(Eagle3State, int, ReadOnlySpan{int}, ReadOnlySpan{int}, int, ReadOnlySpan{int}, bool)"/>
    /// whose rows continue a tree already in the head cache: slots [0, <paramref name="sharedLength"/>) are seen by every
    /// row, slots [<paramref name="sharedLength"/>, <paramref name="prefix"/>) are earlier tree nodes seen only by their
    /// descendants, and <paramref name="regionParents"/> gives the parent of every tree region row (the cached tree rows',
    /// then one per new row; see <see cref="AttentionBatch"/>). A tree of depth d then costs d steps of its new nodes only.
    /// </summary>
    public void Step(Eagle3State s, int n, ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, int sharedLength, int prefix,
        ReadOnlySpan<int> regionParents, bool keysOnly = false)
    {
        if (n > s.MaxBatch) throw new ArgumentException($"{n} rows exceed the head state's batch of {s.MaxBatch}", nameof(n));
        if (prefix + n > s.Cache.Capacity) throw new InvalidOperationException($"the head cache of {s.Cache.Capacity} slots cannot take {prefix + n}");
        Eagle3Config c = Config;
        IBackend b = _b;
        float eps = c.RmsNormEps;

        // a = cat(input_layernorm(embed(token)), hidden_norm(g)); k, v (then q) = W·a as two half matmuls each.
        b.Embed(_embedding, tokens, s.E);
        b.RmsNorm(s.E, _inputNorm, s.NE, n, eps);
        b.RmsNorm(s.G, _hiddenNorm, s.NG, n, eps);
        // One grouped matmul per half (the weights that read the same input run in one pass over it); q only when the
        // step's output is read.
        int projections = keysOnly ? 2 : 3;
        b.MatMulGroup(s.NE, _embedHalf.AsSpan(0, projections), s.EmbedProducts.AsSpan(0, projections), n);
        b.MatMulGroup(s.NG, _hiddenHalf.AsSpan(0, projections), s.HiddenProducts.AsSpan(0, projections), n);
        b.Add(s.K, s.Tkv, n);
        b.Add(s.V, s.Tv, n);
        b.Rope(s.K, n, c.KvHeads, c.HeadDim, positions, _rope);
        b.CopyRows(s.K, 0, s.Cache.Keys(0), prefix, n);
        b.CopyRows(s.V, 0, s.Cache.Values(0), prefix, n);
        if (keysOnly) return;
        b.Add(s.Q, s.T, n);
        b.Rope(s.Q, n, c.Heads, c.HeadDim, positions, _rope);
        b.Attention(s.Q, s.Cache.Keys(0), s.Cache.Values(0), s.Attended, c.Heads, c.KvHeads, c.HeadDim, new AttentionBatch(sharedLength, prefix, regionParents));

        // h = g + o_proj(attn); h2 = h + down(silu(gate(n)) * up(n)), n = post_attention_layernorm(h); out = norm(h2)
        b.MatMul(s.Attended, _wo, s.Delta, n);
        b.Add(s.G, s.Delta, n);
        b.RmsNorm(s.G, _postNorm, s.Normed, n, eps);
        b.MatMulGroup(s.Normed, _gateUp, s.GateUp, n);
        b.SwiGlu(s.Gate, s.Up, n);
        b.MatMul(s.Gate, _wDown, s.Delta, n);
        b.Add(s.G, s.Delta, n);
        b.RmsNorm(s.G, _norm, s.Out, n, eps);

        // Draft-vocabulary logits, through the rank-r bottleneck when the head is low-rank.
        if (_lmHead != null) b.MatMul(s.Out, _lmHead, s.DeviceLogits, n);
        else
        {
            b.MatMul(s.Out, _lmU!, s.LowRank!, n);
            b.MatMul(s.LowRank!, _lmV!, s.DeviceLogits, n);
        }
    }

    /// <summary>Puts the next depth's g of rows <paramref name="sourceRows"/> (the step's post-norm output with
    /// norm_output, its layer output h2 without) into rows 0, 1, … of <c>state.G</c>.</summary>
    public void FeedBack(Eagle3State s, ReadOnlySpan<int> sourceRows)
    {
        GatherRows(Config.NormOutput ? s.Out : s.G, sourceRows, s.Gathered);
        _b.CopyRows(s.Gathered, 0, s.G, 0, sourceRows.Length);
    }

    /// <summary>Where a step leaves the next depth's g: norm(h2) with norm_output, h2 without.</summary>
    internal DeviceTensor FeedBackSource(Eagle3State s) => Config.NormOutput ? s.Out : s.G;

    /// <summary>Reads the draft logits of the first <paramref name="rows"/> rows of the last step to the host ([rows, Vd]).</summary>
    public ReadOnlySpan<float> ReadLogits(Eagle3State s, int rows)
    {
        Span<float> host = s.Logits.AsSpan(0, rows * DraftVocabSize);
        _b.Read(s.DeviceLogits, host);
        return host;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _rope.Dispose();
        _tensors.Dispose();
    }
}
