using System.Numerics;
using System.Numerics.Tensors;

namespace SpecCore.Training;

/// <summary>Cross-entropy of a row of logits against a sparse target distribution (the kept top-k entries of the
/// target's distribution, restricted to the head's vocabulary and renormalised).</summary>
internal static class SoftLabelLoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Whether the row has label mass inside the vocabulary (<paramref name="map"/>: target id to head id,
    /// -1 outside; null: identity).</summary>
    public static bool HasMass(ReadOnlySpan<int> ids, int[]? map)
    {
        foreach (int id in ids)
            if (id >= 0 && (map == null || map[id] >= 0)) return true;
        return false;
    }

    /// <summary>Replaces <paramref name="logits"/> with <paramref name="scale"/>·(softmax − q), the loss gradient, and
    /// returns −Σ q log softmax. <paramref name="argmax"/> gets the logits' top entry (before the replacement).</summary>
    public static double Apply(Span<T> logits, ReadOnlySpan<int> ids, ReadOnlySpan<T> probs, int[]? map, T scale, out int argmax)
    {
        argmax = TensorPrimitives.IndexOfMax<T>(logits);
        T max = logits[argmax];
        T sum = T.Zero;
        for (int i = 0; i < logits.Length; i++) sum += T.Exp(logits[i] - max);
        T logSum = T.Log(sum);
        T mass = T.Zero;
        for (int k = 0; k < ids.Length; k++)
            if (ids[k] >= 0 && (map == null || map[ids[k]] >= 0)) mass += probs[k];
        // log softmax_d = z_d − max − log Σ exp(z − max), taken from the logits so that a tiny probability stays finite.
        T loss = T.Zero;
        for (int k = 0; k < ids.Length; k++)
        {
            int d = ids[k] < 0 ? -1 : map == null ? ids[k] : map[ids[k]];
            if (d >= 0) loss -= probs[k] / mass * (logits[d] - max - logSum);
        }
        T invSum = scale / sum;
        for (int i = 0; i < logits.Length; i++) logits[i] = T.Exp(logits[i] - max) * invSum;
        for (int k = 0; k < ids.Length; k++)
        {
            int d = ids[k] < 0 ? -1 : map == null ? ids[k] : map[ids[k]];
            if (d >= 0) logits[d] -= scale * probs[k] / mass;
        }
        return double.CreateChecked(loss);
    }
}
