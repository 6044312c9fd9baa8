using System.Numerics;
using System.Numerics.Tensors;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>
/// Forward and hand-derived backward of Medusa heads for batches of one geometry. Head i reads the target's final
/// post-norm hidden state x at position t, y = x + SiLU(W_i x + b_i), logits = LM_i y over the full target vocabulary,
/// and predicts x_{t+2+i}; its loss is the soft-label cross-entropy against the target's own distribution for that
/// token (its kept top-k entries, renormalised), averaged over the rows where that token lies in the window; the total
/// is the sum over heads.
/// </summary>
internal sealed class MedusaTrainingPass<T> : ITrainingPass<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ParameterSet<T> _p;
    private readonly DenseOps<T> _ops;
    private readonly int _heads, _hidden, _vocab, _b, _len, _n;
    private readonly T[] _dY, _dZ, _tX, _tDy, _wT;  // [n, H] ×2, transposes
    private readonly T[][] _savedLogits;                             // [heads][n, V]: gradients kept for backward
    private readonly T[][] _savedZ, _savedY;
    private readonly bool[,] _correct;                               // [heads, n] top-1 hits of the last pass

    public MedusaTrainingPass(ParameterSet<T> parameters, int heads, int hidden, int vocab, WorkerPool pool, int sequences, int length)
    {
        _p = parameters; _ops = new DenseOps<T>(pool);
        _heads = heads; _hidden = hidden; _vocab = vocab; _b = sequences; _len = length; _n = sequences * length;
        int n = _n;

        _dY = new T[n * hidden]; _dZ = new T[n * hidden];
        _tX = new T[n * Math.Max(hidden, vocab)]; _tDy = new T[n * Math.Max(hidden, vocab)];
        _wT = new T[vocab * hidden];
        _savedLogits = new T[heads][]; _savedZ = new T[heads][]; _savedY = new T[heads][];
        _correct = new bool[heads, n];
        for (int i = 0; i < heads; i++) { _savedLogits[i] = new T[n * vocab]; _savedZ[i] = new T[n * hidden]; _savedY[i] = new T[n * hidden]; }
    }

    /// <summary>When set, each head's logits ([n, V], row = sequence · length + t) are copied here before the loss
    /// replaces them with its gradient (for comparing with the inference heads).</summary>
    public T[][]? CapturedLogits { get; set; }

    /// <summary>Tensor names of head <paramref name="i"/>: ResBlock weight [H, H], bias [H], LM head [V, H].</summary>
    public static (string Weight, string Bias, string LmHead) Names(int i) => ($"{i}.0.linear.weight", $"{i}.0.linear.bias", $"{i}.1.weight");

    /// <summary>The parameters of <paramref name="heads"/> heads.</summary>
    public static ParameterSet<T> CreateParameters(int heads, int hidden, int vocab)
    {
        var set = new ParameterSet<T>();
        for (int i = 0; i < heads; i++)
        {
            var (w, b, lm) = Names(i);
            set.Add(w, hidden, hidden);
            set.Add(b, hidden);
            set.Add(lm, vocab, hidden);
        }
        return set;
    }

    /// <summary>Medusa's own start: ResBlocks zero (each head begins as the identity), LM heads copied from the
    /// target's ([V, H]).</summary>
    public static void Initialize(ParameterSet<T> set, int heads, float[] targetLmHead)
    {
        for (int i = 0; i < heads; i++)
        {
            var (w, b, lm) = Names(i);
            Array.Clear(set[w].Value);
            Array.Clear(set[b].Value);
            T[] dst = set[lm].Value;
            for (int x = 0; x < dst.Length; x++) dst[x] = T.CreateChecked(targetLmHead[x]);
        }
    }

    /// <summary>Forward over <paramref name="batch"/>; with <paramref name="backward"/>, adds the gradients.</summary>
    public PassResult Run(HeadBatch<T> batch, bool backward)
    {
        if (batch.Sequences != _b || batch.Length != _len) throw new ArgumentException("batch geometry differs from the pass's");
        int h = _hidden, n = _n, v = _vocab, k = batch.TopK;
        T[] x = batch.FinalHidden;
        var result = new PassResult(_heads);
        bool[,] correct = _correct;
        Array.Clear(correct);
        for (int i = 0; i < _heads; i++)
        {
            var (wName, bName, lmName) = Names(i);
            T[] z = _savedZ[i], y = _savedY[i], logits = _savedLogits[i];
            _ops.MultiplyTransposed(x, n, h, _p[wName].Value, h, z);
            T[] bias = _p[bName].Value;
            for (int r = 0; r < n; r++)
            {
                Span<T> zr = z.AsSpan(r * h, h);
                TensorPrimitives.Add<T>(zr, bias, zr);
                for (int j = 0; j < h; j++) y[r * h + j] = x[r * h + j] + zr[j] / (T.One + T.Exp(-zr[j]));
            }
            _ops.MultiplyTransposed(y, n, h, _p[lmName].Value, v, logits);
            if (CapturedLogits != null) Array.Copy(logits, CapturedLogits[i], logits.Length);

            int rows = 0;
            for (int r = 0; r < n; r++) if (Valid(batch, r, i)) rows++;
            T scale = rows == 0 ? T.Zero : T.One / T.CreateChecked(rows);
            double sum = 0;
            for (int r = 0; r < n; r++)
            {
                Span<T> lr = logits.AsSpan(r * v, v);
                if (!Valid(batch, r, i)) { lr.Clear(); continue; }
                int label = r + 1 + i;
                sum += SoftLabelLoss<T>.Apply(lr, batch.LabelIds.AsSpan(label * k, k), batch.LabelProbs.AsSpan(label * k, k), null, scale, out int argmax);
                bool hit = batch.LabelIds[label * k] == argmax;
                correct[i, r] = hit;
                if (hit) result.Correct[i]++;
            }
            result.Counted[i] = rows;
            result.StepLoss[i] = rows == 0 ? 0 : sum / rows;
            result.Loss += result.StepLoss[i];
        }
        for (int r = 0; r < n; r++)
        {
            if (!Valid(batch, r, _heads - 1)) continue;
            int a = 0;
            while (a < _heads && correct[a, r]) a++;
            result.ChainAccepted += a;
            result.ChainPositions++;
        }
        if (backward) Backward(x);
        return result;
    }

    // Head i at row r predicts x_{t+2+i} from the target distribution at t+1+i, which must lie in the window.
    private bool Valid(HeadBatch<T> batch, int r, int i) =>
        r % _len + 1 + i <= _len - 1 && SoftLabelLoss<T>.HasMass(batch.LabelIds.AsSpan((r + 1 + i) * batch.TopK, batch.TopK), null);

    private void Backward(T[] x)
    {
        int h = _hidden, n = _n, v = _vocab;
        for (int i = 0; i < _heads; i++)
        {
            var (wName, bName, lmName) = Names(i);
            T[] z = _savedZ[i], y = _savedY[i], dLogits = _savedLogits[i];
            var lm = _p[lmName];
            // logits = LM y: dy = dlogits · LM, dLM += dlogitsᵀ · y
            DenseOps<T>.Transpose(lm.Value, v, h, _wT);
            _ops.MultiplyTransposed(dLogits, n, v, _wT, h, _dY);
            DenseOps<T>.Transpose(dLogits, n, v, _tDy);
            DenseOps<T>.Transpose(y, n, h, _tX);
            _ops.MultiplyTransposed(_tDy, v, n, _tX, h, lm.Gradient, accumulate: true);
            // y = x + silu(z): dz = dy ⊙ silu'(z); dW += dzᵀ · x, db += Σ dz
            T[] db = _p[bName].Gradient;
            for (int r = 0; r < n; r++)
                for (int j = 0; j < h; j++)
                {
                    T zz = z[r * h + j];
                    T s = T.One / (T.One + T.Exp(-zz));
                    T d = _dY[r * h + j] * s * (T.One + zz * (T.One - s));
                    _dZ[r * h + j] = d;
                    db[j] += d;
                }
            DenseOps<T>.Transpose(_dZ, n, h, _tDy);
            DenseOps<T>.Transpose(x, n, h, _tX);
            _ops.MultiplyTransposed(_tDy, h, n, _tX, h, _p[wName].Gradient, accumulate: true);
        }
    }
}
