using System.Numerics;
using System.Numerics.Tensors;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>The attention of the training-time test, forward and backward. At unrolled step i the query of head
/// position t attends to the step-0 keys of positions 0..t (the committed prefix) and to the step-1..i keys of the
/// same t (its drafted ancestors), in that order. Rows are sequence · positions + t in every buffer.</summary>
internal sealed class TttAttention<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly WorkerPool _pool;
    private readonly ForwardJob _forward = new();
    private readonly BackwardJob _backward = new();

    public TttAttention(WorkerPool pool, int sequences, int positions, int steps, int heads, int kvHeads, int headDim)
    {
        _pool = pool;
        foreach (Geometry g in new Geometry[] { _forward, _backward })
        {
            g.Sequences = sequences; g.Positions = positions; g.Heads = heads; g.KvHeads = kvHeads; g.HeadDim = headDim;
            g.MaxKeys = positions + steps;
            g.Scale = T.One / T.Sqrt(T.CreateChecked(headDim));
        }
        _backward.Scratch = new T[sequences * kvHeads][];
        for (int i = 0; i < _backward.Scratch.Length; i++) _backward.Scratch[i] = new T[positions + steps];
    }

    /// <summary>Probabilities buffer length one step needs: [sequences, heads, positions, positions + steps].</summary>
    public static int ProbabilityLength(int sequences, int positions, int steps, int heads) => sequences * heads * positions * (positions + steps);

    /// <summary>Step <paramref name="step"/>: <paramref name="output"/> [rows, heads·hd] from <paramref name="q"/>
    /// [rows, heads·hd] (after RoPE) and the keys/values of steps 0..step ([rows, kvHeads·hd] each, after RoPE);
    /// keeps the softmax probabilities in <paramref name="probabilities"/>.</summary>
    public void Forward(int step, T[] q, T[][] keys, T[][] values, T[] probabilities, T[] output)
    {
        _forward.Step = step; _forward.Q = q; _forward.Keys = keys; _forward.Values = values;
        _forward.P = probabilities; _forward.Output = output;
        _pool.Run(_forward, _forward.Sequences * _forward.Heads);
    }

    /// <summary>Backward of <see cref="Forward"/> for step <paramref name="step"/>: writes dQ, adds to dK and dV of
    /// steps 0..step.</summary>
    public void Backward(int step, T[] q, T[][] keys, T[][] values, T[] probabilities, T[] dOutput, T[] dQ, T[][] dKeys, T[][] dValues)
    {
        var j = _backward;
        j.Step = step; j.Q = q; j.Keys = keys; j.Values = values; j.P = probabilities; j.DOutput = dOutput;
        j.DQ = dQ; j.DKeys = dKeys; j.DValues = dValues;
        _pool.Run(j, j.Sequences * j.KvHeads);
    }

    private abstract class Geometry : ParallelJob
    {
        public int Sequences, Positions, Heads, KvHeads, HeadDim, MaxKeys, Step;
        public T Scale;
        public T[] Q = null!, P = null!;
        public T[][] Keys = null!, Values = null!;

        /// <summary>The key row and step of key j for the query at (sequence b, position t).</summary>
        protected (int Step, int Row) KeyOf(int b, int t, int j) =>
            j <= t ? (0, b * Positions + j) : (j - t, b * Positions + t);

        protected int ProbOffset(int b, int h, int t) => ((b * Heads + h) * Positions + t) * MaxKeys;
    }

    private sealed class ForwardJob : Geometry
    {
        public T[] Output = null!;

        public override void Execute(int index)
        {
            int b = index / Heads, h = index % Heads;
            int hd = HeadDim, group = Heads / KvHeads, kvh = h / group;
            int qStride = Heads * hd, kvStride = KvHeads * hd;
            for (int t = 0; t < Positions; t++)
            {
                int row = b * Positions + t;
                ReadOnlySpan<T> qv = Q.AsSpan(row * qStride + h * hd, hd);
                int count = t + 1 + Step;
                Span<T> p = P.AsSpan(ProbOffset(b, h, t), count);
                T max = T.NegativeInfinity;
                for (int j = 0; j < count; j++)
                {
                    var (s, r) = KeyOf(b, t, j);
                    T score = TensorPrimitives.Dot<T>(qv, Keys[s].AsSpan(r * kvStride + kvh * hd, hd)) * Scale;
                    p[j] = score;
                    if (score > max) max = score;
                }
                T sum = T.Zero;
                for (int j = 0; j < count; j++) { p[j] = T.Exp(p[j] - max); sum += p[j]; }
                T inv = T.One / sum;
                Span<T> o = Output.AsSpan(row * qStride + h * hd, hd);
                o.Clear();
                for (int j = 0; j < count; j++)
                {
                    p[j] *= inv;
                    var (s, r) = KeyOf(b, t, j);
                    TensorPrimitives.MultiplyAdd<T>(Values[s].AsSpan(r * kvStride + kvh * hd, hd), p[j], o, o);
                }
            }
        }
    }

    private sealed class BackwardJob : Geometry
    {
        public T[] DOutput = null!, DQ = null!;
        public T[][] DKeys = null!, DValues = null!;
        public T[][] Scratch = null!;

        // One item per (sequence, kv head): the heads of a group share keys, so their key gradients add up in one item.
        public override void Execute(int index)
        {
            int b = index / KvHeads, kvh = index % KvHeads;
            int hd = HeadDim, group = Heads / KvHeads;
            int qStride = Heads * hd, kvStride = KvHeads * hd;
            Span<T> ds = Scratch[index];
            for (int h = kvh * group; h < (kvh + 1) * group; h++)
            {
                for (int t = 0; t < Positions; t++)
                {
                    int row = b * Positions + t;
                    int count = t + 1 + Step;
                    ReadOnlySpan<T> p = P.AsSpan(ProbOffset(b, h, t), count);
                    ReadOnlySpan<T> dout = DOutput.AsSpan(row * qStride + h * hd, hd);
                    ReadOnlySpan<T> qv = Q.AsSpan(row * qStride + h * hd, hd);
                    // ds_j = p_j (dout·v_j − Σ_k p_k dout·v_k)
                    T weighted = T.Zero;
                    for (int j = 0; j < count; j++)
                    {
                        var (s, r) = KeyOf(b, t, j);
                        T dp = TensorPrimitives.Dot<T>(dout, Values[s].AsSpan(r * kvStride + kvh * hd, hd));
                        ds[j] = dp;
                        weighted += p[j] * dp;
                    }
                    Span<T> dq = DQ.AsSpan(row * qStride + h * hd, hd);
                    dq.Clear();
                    for (int j = 0; j < count; j++)
                    {
                        var (s, r) = KeyOf(b, t, j);
                        T g = p[j] * (ds[j] - weighted) * Scale;
                        int at = r * kvStride + kvh * hd;
                        TensorPrimitives.MultiplyAdd<T>(Keys[s].AsSpan(at, hd), g, dq, dq);
                        Span<T> dk = DKeys[s].AsSpan(at, hd);
                        TensorPrimitives.MultiplyAdd<T>(qv, g, dk, dk);
                        Span<T> dv = DValues[s].AsSpan(at, hd);
                        TensorPrimitives.MultiplyAdd<T>(dout, p[j], dv, dv);
                    }
                }
            }
        }
    }
}
