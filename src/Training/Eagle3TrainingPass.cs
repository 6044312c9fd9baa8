using System.Numerics;
using System.Numerics.Tensors;
using SpecCore.Tensors;
using P = SpecCore.Training.Eagle3Parameters;

namespace SpecCore.Training;

/// <summary>
/// Forward and hand-derived backward of an EAGLE-3 head with the training-time test (TTT), for batches of one
/// geometry (sequences × window length × unrolled steps); every buffer is made once here.
/// </summary>
/// <remarks>
/// Window of L tokens x_0..x_{L−1}; head position t = 0..L−2 reads the target features f_t. Step 0:
/// g = fc(fc_norm(f_t)), token x_{t+1} at RoPE position t+1. Step i > 0 at t: g = out_{i−1}(t) (h2 when
/// norm_output is off), token x_{t+1+i}, position t+1+i, attending to the step-0 keys of positions ≤ t and the
/// step-1..i keys of t. Each step predicts x_{t+2+i}; its loss is the soft-label cross-entropy against the target's
/// distribution for that token restricted to the draft vocabulary, averaged over the rows where that token lies in
/// the window; the total is Σ_i 0.8^i · loss_i.
/// </remarks>
internal sealed class Eagle3TrainingPass<T> : ITrainingPass<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The step-weight base of the TTT loss.</summary>
    public const double StepDecay = 0.8;

    private readonly Eagle3HeadShape _shape;
    private readonly ParameterSet<T> _p;
    private readonly T[] _embedding;        // [V, H] the target's, frozen
    private readonly DraftVocabulary _vocab;
    private readonly DenseOps<T> _ops;
    private readonly TttAttention<T> _attention;
    private readonly RotaryTable<T> _rope;
    private readonly int _b, _len, _pos, _n, _steps;
    private readonly T _eps;

    // Activations; [n, ·] with row = sequence · positions + t. Per-step ones are indexed [step][...].
    private readonly T[] _fin, _fn, _fcInv;           // [n, 3H], [n, 3H], [n, 3]
    private readonly T[][] _g, _e, _a, _aInv;         // [n, H], [n, H], [n, 2H], [n, 2]
    private readonly T[][] _q, _k, _v, _prob, _att;   // [n, Q], [n, KV], [n, KV], probs, [n, Q]
    private readonly T[][] _hh, _postInv, _nn;        // [n, H], [n], [n, H]
    private readonly T[][] _gt, _u, _m;               // [n, F] each
    private readonly T[][] _h2, _outInv, _out;        // [n, H], [n], [n, H]
    private readonly T[][] _logits;                   // [n, Vd]: logits, then their gradient
    private readonly bool[][] _correct;               // [n] per step
    private readonly bool[][] _valid;                 // [n] per step: the predicted token lies in the window

    // Gradients and scratch, shared by the steps.
    private readonly T[] _dOut, _dH2, _dM, _dGt, _dU, _dNn, _dHh, _dAtt, _dQ, _dA, _dG, _dGNext, _dE, _dFn, _dFin;
    private readonly T[][] _dK, _dV;
    private readonly T[] _tX, _tDy;                   // transposes of an input and an output gradient
    private readonly Dictionary<string, T[]> _transposed = new(StringComparer.Ordinal); // weights [in, out]

    public Eagle3TrainingPass(Eagle3HeadShape shape, ParameterSet<T> parameters, T[] embedding, double[] ropeInverseFrequencies,
        DraftVocabulary vocabulary, WorkerPool pool, int sequences, int length, int steps)
    {
        if (length < 3) throw new ArgumentOutOfRangeException(nameof(length), "a window needs at least 3 tokens");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps));
        _shape = shape; _p = parameters; _embedding = embedding; _vocab = vocabulary;
        _ops = new DenseOps<T>(pool);
        _b = sequences; _len = length; _pos = length - 1; _n = sequences * _pos; _steps = steps;
        _eps = T.CreateChecked(shape.RmsNormEps);
        int h = shape.HiddenSize, q = shape.QueryDim, kv = shape.KvDim, f = shape.IntermediateSize, vd = shape.DraftVocabSize, n = _n;
        _attention = new TttAttention<T>(pool, sequences, _pos, steps, shape.Heads, shape.KvHeads, shape.HeadDim);
        _rope = new RotaryTable<T>(ropeInverseFrequencies, length + steps + 1);

        _fin = new T[n * 3 * h]; _fn = new T[n * 3 * h]; _fcInv = new T[n * 3];
        T[][] Per(int size) { var a = new T[steps][]; for (int i = 0; i < steps; i++) a[i] = new T[size]; return a; }
        _g = Per(n * h); _e = Per(n * h); _a = Per(n * 2 * h); _aInv = Per(n * 2);
        _q = Per(n * q); _k = Per(n * kv); _v = Per(n * kv); _att = Per(n * q);
        _prob = Per(TttAttention<T>.ProbabilityLength(sequences, _pos, steps, shape.Heads));
        _hh = Per(n * h); _postInv = Per(n); _nn = Per(n * h);
        _gt = Per(n * f); _u = Per(n * f); _m = Per(n * f);
        _h2 = Per(n * h); _outInv = Per(n); _out = Per(n * h);
        _logits = Per(n * vd);
        _correct = new bool[steps][]; _valid = new bool[steps][];
        for (int i = 0; i < steps; i++) { _correct[i] = new bool[n]; _valid[i] = new bool[n]; }

        _dOut = new T[n * h]; _dH2 = new T[n * h]; _dM = new T[n * f]; _dGt = new T[n * f]; _dU = new T[n * f];
        _dNn = new T[n * h]; _dHh = new T[n * h]; _dAtt = new T[n * q]; _dQ = new T[n * q]; _dA = new T[n * 2 * h];
        _dG = new T[n * h]; _dGNext = new T[n * h]; _dE = new T[n * h]; _dFn = new T[n * 3 * h]; _dFin = new T[n * 3 * h];
        _dK = Per(n * kv); _dV = Per(n * kv);
        int widest = Math.Max(Math.Max(3 * h, 2 * h), Math.Max(Math.Max(f, q), vd));
        _tX = new T[n * widest]; _tDy = new T[n * widest];
        foreach (var prm in parameters.All)
            if (prm.Shape.Length == 2) _transposed[prm.Name] = new T[prm.Value.Length];
    }

    /// <summary>Head positions per window (window length − 1).</summary>
    public int Positions => _pos;

    /// <summary>Unrolled steps.</summary>
    public int Steps => _steps;

    /// <summary>When set, each step's logits ([n, Vd], row = sequence · positions + t) are copied here before the loss
    /// replaces them with its gradient (for comparing with the inference head).</summary>
    public T[][]? CapturedLogits { get; set; }

    /// <summary>Runs the forward pass over <paramref name="batch"/> and, when <paramref name="backward"/>, adds the
    /// loss gradient to every parameter's <see cref="Parameter{T}.Gradient"/>.</summary>
    public PassResult Run(HeadBatch<T> batch, bool backward)
    {
        if (batch.Sequences != _b || batch.Length != _len) throw new ArgumentException("batch geometry differs from the pass's");
        var result = new PassResult(_steps);
        Forward(batch, result);
        if (backward) Backward();
        return result;
    }

    private void Forward(HeadBatch<T> batch, PassResult result)
    {
        int h = _shape.HiddenSize, n = _n;
        // Features of head positions 0..L−2 of each window.
        for (int s = 0; s < _b; s++)
            Array.Copy(batch.Features, s * _len * 3 * h, _fin, s * _pos * 3 * h, _pos * 3 * h);
        if (_shape.FcNorm)
            for (int j = 0; j < 3; j++)
                RmsNormOps<T>.Forward(_fin, 3 * h, j * h, W(P.FcNorm(j)), _fn, 3 * h, j * h, _fcInv, 3, j, n, h, _eps);
        else Array.Copy(_fin, _fn, _fin.Length);
        _ops.MultiplyTransposed(_fn, n, 3 * h, W(P.Fc), h, _g[0]);   // g = fc(f)

        double total = 0;
        for (int i = 0; i < _steps; i++)
        {
            StepForward(batch, i);
            double stepLoss = Loss(batch, i, result);
            total += Math.Pow(StepDecay, i) * stepLoss;
            if (i + 1 < _steps) Array.Copy(_shape.NormOutput ? _out[i] : _h2[i], _g[i + 1], n * h);
        }
        result.Loss = total;

        // Chain acceptance: leading correct steps at each position that has all steps.
        for (int r = 0; r < n; r++)
        {
            if (!_valid[_steps - 1][r]) continue;
            int k = 0;
            while (k < _steps && _correct[k][r]) k++;
            result.ChainAccepted += k;
            result.ChainPositions++;
        }
    }

    private void StepForward(HeadBatch<T> batch, int i)
    {
        Eagle3HeadShape c = _shape;
        int h = c.HiddenSize, n = _n, q = c.QueryDim, kv = c.KvDim, f = c.IntermediateSize;

        // e = embed(x_{t+1+i}); a = cat(input_layernorm(e), hidden_norm(g))
        T[] e = _e[i];
        for (int s = 0; s < _b; s++)
            for (int t = 0; t < _pos; t++)
            {
                int token = batch.Tokens[s * _len + Math.Min(t + 1 + i, _len - 1)];
                Array.Copy(_embedding, token * h, e, (s * _pos + t) * h, h);
            }
        RmsNormOps<T>.Forward(e, h, 0, W(P.InputNorm), _a[i], 2 * h, 0, _aInv[i], 2, 0, n, h, _eps);
        RmsNormOps<T>.Forward(_g[i], h, 0, W(P.HiddenNorm), _a[i], 2 * h, h, _aInv[i], 2, 1, n, h, _eps);

        // q, k, v with RoPE at position t+1+i; attention over step-0 keys ≤ t and this t's steps 1..i.
        _ops.MultiplyTransposed(_a[i], n, 2 * h, W(P.Wq), q, _q[i]);
        _ops.MultiplyTransposed(_a[i], n, 2 * h, W(P.Wk), kv, _k[i]);
        _ops.MultiplyTransposed(_a[i], n, 2 * h, W(P.Wv), kv, _v[i]);
        for (int r = 0; r < n; r++)
        {
            int position = r % _pos + 1 + i;
            _rope.Apply(_q[i].AsSpan(r * q, q), c.Heads, position);
            _rope.Apply(_k[i].AsSpan(r * kv, kv), c.KvHeads, position);
        }
        _attention.Forward(i, _q[i], _k, _v, _prob[i], _att[i]);

        // h = g + o_proj(attn)
        _ops.MultiplyTransposed(_att[i], n, q, W(P.Wo), h, _hh[i]);
        TensorPrimitives.Add<T>(_hh[i], _g[i], _hh[i]);

        // h2 = h + down(silu(gate(n)) ⊙ up(n)), n = post_attention_layernorm(h)
        RmsNormOps<T>.Forward(_hh[i], h, 0, W(P.PostNorm), _nn[i], h, 0, _postInv[i], 1, 0, n, h, _eps);
        _ops.MultiplyTransposed(_nn[i], n, h, W(P.Gate), f, _gt[i]);
        _ops.MultiplyTransposed(_nn[i], n, h, W(P.Up), f, _u[i]);
        T[] gt = _gt[i], u = _u[i], m = _m[i];
        for (int x = 0; x < m.Length; x++) m[x] = Silu(gt[x]) * u[x];
        _ops.MultiplyTransposed(m, n, f, W(P.Down), h, _h2[i]);
        TensorPrimitives.Add<T>(_h2[i], _hh[i], _h2[i]);

        // out = norm(h2); logits = lm_head(out)
        RmsNormOps<T>.Forward(_h2[i], h, 0, W(P.Norm), _out[i], h, 0, _outInv[i], 1, 0, n, h, _eps);
        _ops.MultiplyTransposed(_out[i], n, h, W(P.LmHead), c.DraftVocabSize, _logits[i]);
        if (CapturedLogits != null) Array.Copy(_logits[i], CapturedLogits[i], _logits[i].Length);
    }

    /// <summary>Step i's mean cross-entropy; turns its logits into the loss gradient (weight 0.8^i / rows).</summary>
    private double Loss(HeadBatch<T> batch, int i, PassResult result)
    {
        int vd = _shape.DraftVocabSize, k = batch.TopK;
        int[] map = _vocab.TargetToDraft;
        int rows = 0;
        for (int r = 0; r < _n; r++)
        {
            int s = r / _pos, t = r % _pos;
            int label = s * _len + t + 1 + i;  // the target's distribution for x_{t+2+i}
            bool inWindow = t + 1 + i <= _len - 1;
            _valid[i][r] = inWindow && SoftLabelLoss<T>.HasMass(batch.LabelIds.AsSpan(label * k, k), map);
            if (_valid[i][r]) rows++;
        }
        T scale = rows == 0 ? T.Zero : T.CreateChecked(Math.Pow(StepDecay, i) / rows);
        double sum = 0;
        long correct = 0;
        for (int r = 0; r < _n; r++)
        {
            Span<T> logits = _logits[i].AsSpan(r * vd, vd);
            _correct[i][r] = false;
            if (!_valid[i][r]) { logits.Clear(); continue; }
            int s = r / _pos, t = r % _pos;
            int label = s * _len + t + 1 + i;
            sum += SoftLabelLoss<T>.Apply(logits, batch.LabelIds.AsSpan(label * k, k), batch.LabelProbs.AsSpan(label * k, k), map, scale, out int argmax);
            int top = batch.LabelIds[label * k];
            bool hit = top >= 0 && map[top] == argmax;
            _correct[i][r] = hit;
            if (hit) correct++;
        }
        result.Correct[i] = correct;
        result.Counted[i] = rows;
        result.StepLoss[i] = rows == 0 ? 0 : sum / rows;
        return result.StepLoss[i];
    }

    private void Backward()
    {
        Eagle3HeadShape c = _shape;
        int h = c.HiddenSize, n = _n, q = c.QueryDim, kv = c.KvDim, f = c.IntermediateSize, vd = c.DraftVocabSize;
        foreach (var prm in _p.All)
            if (prm.Shape.Length == 2) DenseOps<T>.Transpose(prm.Value, prm.Shape[0], prm.Shape[1], _transposed[prm.Name]);
        for (int i = 0; i < _steps; i++) { Array.Clear(_dK[i]); Array.Clear(_dV[i]); }
        Array.Clear(_dGNext);

        for (int i = _steps - 1; i >= 0; i--)
        {
            bool fedForward = i + 1 < _steps; // step i's output fed step i+1, whose gradient is in dGNext
            // logits = lm_head(out); out = norm(h2)
            LinearBackward(_out[i], h, P.LmHead, vd, _logits[i], _dOut, accumulate: false);
            if (fedForward && c.NormOutput) TensorPrimitives.Add<T>(_dOut, _dGNext, _dOut);
            Array.Clear(_dH2);
            RmsNormOps<T>.Backward(_h2[i], h, 0, W(P.Norm), _dOut, h, 0, _outInv[i], 1, 0, _dH2, h, 0, G(P.Norm), n, h);
            if (fedForward && !c.NormOutput) TensorPrimitives.Add<T>(_dH2, _dGNext, _dH2);

            // h2 = h + down(silu(gate) ⊙ up)
            LinearBackward(_m[i], f, P.Down, h, _dH2, _dM, accumulate: false);
            T[] gt = _gt[i], u = _u[i];
            for (int x = 0; x < _dM.Length; x++)
            {
                T sg = T.One / (T.One + T.Exp(-gt[x]));
                _dU[x] = _dM[x] * gt[x] * sg;
                _dGt[x] = _dM[x] * u[x] * sg * (T.One + gt[x] * (T.One - sg));
            }
            LinearBackward(_nn[i], h, P.Gate, f, _dGt, _dNn, accumulate: false);
            LinearBackward(_nn[i], h, P.Up, f, _dU, _dNn, accumulate: true);
            Array.Copy(_dH2, _dHh, _dH2.Length);
            RmsNormOps<T>.Backward(_hh[i], h, 0, W(P.PostNorm), _dNn, h, 0, _postInv[i], 1, 0, _dHh, h, 0, G(P.PostNorm), n, h);

            // h = g + o_proj(attn)
            Array.Copy(_dHh, _dG, _dHh.Length);
            LinearBackward(_att[i], q, P.Wo, h, _dHh, _dAtt, accumulate: false);
            _attention.Backward(i, _q[i], _k, _v, _prob[i], _dAtt, _dQ, _dK, _dV);
            for (int r = 0; r < n; r++)
            {
                int position = r % _pos + 1 + i;
                _rope.Apply(_dQ.AsSpan(r * q, q), c.Heads, position, inverse: true);
                _rope.Apply(_dK[i].AsSpan(r * kv, kv), c.KvHeads, position, inverse: true);
            }
            // Every later step has added its part to this step's key and value gradients by now.
            LinearBackward(_a[i], 2 * h, P.Wq, q, _dQ, _dA, accumulate: false);
            LinearBackward(_a[i], 2 * h, P.Wk, kv, _dK[i], _dA, accumulate: true);
            LinearBackward(_a[i], 2 * h, P.Wv, kv, _dV[i], _dA, accumulate: true);
            RmsNormOps<T>.Backward(_e[i], h, 0, W(P.InputNorm), _dA, 2 * h, 0, _aInv[i], 2, 0, _dE, h, 0, G(P.InputNorm), n, h);
            RmsNormOps<T>.Backward(_g[i], h, 0, W(P.HiddenNorm), _dA, 2 * h, h, _aInv[i], 2, 1, _dG, h, 0, G(P.HiddenNorm), n, h);

            if (i > 0)
            {
                Array.Copy(_dG, _dGNext, _dG.Length);
                continue;
            }
            // g = fc(fc_norm(f))
            LinearBackward(_fn, 3 * h, P.Fc, h, _dG, _shape.FcNorm ? _dFn : null, accumulate: false);
            if (_shape.FcNorm)
                for (int j = 0; j < 3; j++)
                    RmsNormOps<T>.Backward(_fin, 3 * h, j * h, W(P.FcNorm(j)), _dFn, 3 * h, j * h, _fcInv, 3, j, _dFin, 3 * h, j * h, G(P.FcNorm(j)), n, h);
        }
    }

    /// <summary>For y = x · Wᵀ (x [n, inDim], W [outDim, inDim]): dx (+)= dy · W when <paramref name="dx"/> is given,
    /// and dW += dyᵀ · x.</summary>
    private void LinearBackward(T[] x, int inDim, string weight, int outDim, T[] dy, T[]? dx, bool accumulate)
    {
        int n = _n;
        if (dx != null) _ops.MultiplyTransposed(dy, n, outDim, _transposed[weight], inDim, dx, accumulate);
        DenseOps<T>.Transpose(dy, n, outDim, _tDy);
        DenseOps<T>.Transpose(x, n, inDim, _tX);
        _ops.MultiplyTransposed(_tDy, outDim, n, _tX, inDim, G(weight), accumulate: true);
    }

    private T[] W(string name) => _p[name].Value;
    private T[] G(string name) => _p[name].Gradient;

    private static T Silu(T x) => x / (T.One + T.Exp(-x));
}
