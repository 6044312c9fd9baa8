using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Verification;

/// <summary>
/// Decides which draft tokens the target keeps, given the target's logits over the verification batch
/// [pending token, node 0, node 1, ...] (row i + 1 holds the target's prediction after node i).
/// Greedy: walk down while the target's argmax is a child of the current node. Sampling: at each node try
/// its children in order, accepting child x with probability min(1, p(x) / q_x(x)) and otherwise replacing
/// p by normalise(max(0, p − q_x)) (Leviathan et al. / Chen et al. for one child; SpecInfer's multi-step
/// speculative sampling, i.e. recursive rejection sampling, for several); when no child is accepted the next
/// token is drawn from p. q_x is the distribution x was drawn from: its node's stored distribution, except that
/// siblings drawn from one stored distribution count as drawn in order without replacement, so the earlier
/// siblings' tokens are removed from it and it is renormalised; a deterministic proposal has q_x one-hot.
/// The output distribution is exactly the target's.
/// </summary>
public sealed class TreeVerifier
{
    private readonly Sampler _sampler;
    private readonly float[] _p; // [vocab] target distribution, turned into the residual on rejections
    private readonly float[] _q; // [vocab] q_x of the child being tried

    /// <summary>Creates a verifier sampling with <paramref name="sampler"/> (its options apply to p).</summary>
    public TreeVerifier(Sampler sampler)
    {
        _sampler = sampler;
        _p = new float[sampler.VocabSize];
        _q = new float[sampler.VocabSize];
    }

    /// <summary>A deliberate error for tests that prove the losslessness tests can fail.</summary>
    internal VerifierFault Fault { get; set; }

    /// <summary>Verifies <paramref name="tree"/> against <paramref name="targetLogits"/> ([tree.Count + 1, vocab]).</summary>
    public void Verify(DraftTree tree, ReadOnlySpan<float> targetLogits, VerificationResult result)
    {
        result.Clear();
        int vocab = _sampler.VocabSize;
        if (targetLogits.Length < (tree.Count + 1) * vocab) throw new ArgumentException("logits must cover the pending token and every node");
        if (_sampler.Options.IsGreedy) VerifyGreedy(tree, targetLogits, vocab, result);
        else VerifySampling(tree, targetLogits, vocab, result);
    }

    private static void VerifyGreedy(DraftTree tree, ReadOnlySpan<float> logits, int vocab, VerificationResult result)
    {
        int node = -1;
        while (true)
        {
            int best = Sampler.CheckedArgMax(logits.Slice((node + 1) * vocab, vocab));
            int child = tree.FindChild(node, best);
            if (child < 0)
            {
                result.NextToken = best;
                result.IsBonus = !HasChildren(tree, node);
                return;
            }
            result.Accept(child);
            node = child;
        }
    }

    private void VerifySampling(DraftTree tree, ReadOnlySpan<float> logits, int vocab, VerificationResult result)
    {
        int node = -1;
        while (true)
        {
            Span<float> p = _p;
            _sampler.Distribution(logits.Slice((node + 1) * vocab, vocab), p);
            int accepted = -1;
            bool rejectedAny = false;
            ReadOnlySpan<int> parents = tree.Parents;
            for (int c = node + 1; c < tree.Count; c++)
            {
                if (parents[c] != node) continue;
                int x = tree.Tokens[c];
                ReadOnlySpan<float> q = DraftDistribution(tree, node, c, x);
                float px = p[x];
                float qx = q[x];
                if (!IsValidDraft(q, qx))
                {
                    // A broken drafter (NaN or infinite logits, a row that is not a distribution): reject its tokens
                    // here and draw from p as it stands (the target's distribution, or the residual after the children
                    // already rejected), so the output stays exactly the target's.
                    result.InvalidDraft = true;
                    break;
                }
                // qx > 0 always holds for a token drawn from q; guard against a drafter that lies.
                float acceptance = qx > 0 ? Math.Min(1f, px / qx) : 0f;
                if (Fault == VerifierFault.AcceptAlways) acceptance = 1f;
                if (_sampler.Random.NextFloat() < acceptance)
                {
                    accepted = c;
                    break;
                }
                rejectedAny = true;
                Residual(p, q);
            }
            if (accepted < 0)
            {
                result.NextToken = _sampler.SampleFrom(p);
                result.IsBonus = !rejectedAny;
                return;
            }
            result.Accept(accepted);
            node = accepted;
        }
    }

    /// <summary>q_x of <paramref name="child"/> (carrying <paramref name="token"/>) under <paramref name="parent"/>.</summary>
    private ReadOnlySpan<float> DraftDistribution(DraftTree tree, int parent, int child, int token)
    {
        int d = tree.DistributionOf[child];
        if (d < 0)
        {
            Array.Clear(_q);
            _q[token] = 1f;
            return _q;
        }
        ReadOnlySpan<float> stored = tree.Distribution(d);
        if (Fault == VerifierFault.SiblingsWithReplacement) return stored;
        // Earlier siblings drawn from the same distribution were drawn before this child, without replacement.
        bool removed = false;
        ReadOnlySpan<int> parents = tree.Parents;
        for (int s = parent + 1; s < child; s++)
        {
            if (parents[s] != parent || tree.DistributionOf[s] != d) continue;
            if (!removed) stored.CopyTo(_q);
            removed = true;
            _q[tree.Tokens[s]] = 0f;
        }
        if (!removed) return stored;
        float total = 0;
        foreach (float v in _q) total += v;
        if (total <= 0) return _q; // nothing left: the child cannot have been drawn (q_x(x) = 0 rejects it)
        float inv = 1f / total;
        for (int i = 0; i < _q.Length; i++) _q[i] *= inv;
        return _q;
    }

    /// <summary>Whether <paramref name="q"/> is a probability distribution (finite, non-negative, summing to 1 within
    /// rounding) that gives the drawn token <paramref name="qx"/> a positive probability. One pass over the row,
    /// as the residual already takes.</summary>
    private static bool IsValidDraft(ReadOnlySpan<float> q, float qx)
    {
        if (!(qx > 0f && qx <= 1.0001f)) return false;
        float sum = System.Numerics.Tensors.TensorPrimitives.Sum(q);
        return sum is > 0.999f and < 1.001f && System.Numerics.Tensors.TensorPrimitives.Min(q) >= 0f;
    }

    /// <summary>p ← normalise(max(0, p − q)). If nothing is left (p ≤ q everywhere, only possible through
    /// rounding) p is kept as it was.</summary>
    private static void Residual(Span<float> p, ReadOnlySpan<float> q)
    {
        float total = 0;
        for (int i = 0; i < p.Length; i++) total += Math.Max(0f, p[i] - q[i]);
        if (total <= 0) return;
        float inv = 1f / total;
        for (int i = 0; i < p.Length; i++) p[i] = Math.Max(0f, p[i] - q[i]) * inv;
    }

    private static bool HasChildren(DraftTree tree, int node)
    {
        ReadOnlySpan<int> parents = tree.Parents;
        for (int c = node + 1; c < parents.Length; c++)
            if (parents[c] == node) return true;
        return false;
    }
}

/// <summary>Deliberate verifier errors, so tests can show the losslessness checks catch them.</summary>
internal enum VerifierFault
{
    /// <summary>The correct verifier.</summary>
    None,
    /// <summary>Accepts every draft token it tries.</summary>
    AcceptAlways,
    /// <summary>Treats siblings drawn from one distribution as drawn with replacement (q never loses earlier siblings).</summary>
    SiblingsWithReplacement,
}
