using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>Everything one sequence needs to run an <see cref="Eagle3Head"/>: its KV cache (one layer) and every
/// activation buffer, sized once, so a head step allocates nothing.</summary>
public sealed class Eagle3State : IDisposable
{
    private readonly DeviceTensor[] _all;

    internal Eagle3State(IBackend b, Eagle3Config c, int draftVocab, int capacity, int maxBatch)
    {
        MaxBatch = maxBatch;
        int h = c.HiddenSize, q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim;
        Cache = new KvCache(b, 1, capacity, kv);
        DeviceTensor A(int cols) => b.Allocate(DType.F32, maxBatch, cols);
        (G, Fc, Gathered, E, NE, NG, Normed, Delta, Out) = (A(h), A(h), A(h), A(h), A(h), A(h), A(h), A(h), A(h));
        (Q, T, Attended) = (A(q), A(q), A(q));
        (K, V, Tkv, Tv) = (A(kv), A(kv), A(kv), A(kv));
        (Gate, Up) = (A(c.IntermediateSize), A(c.IntermediateSize));
        DeviceLogits = A(draftVocab);
        if (c.LmHeadRank is int r) LowRank = A(r);
        Logits = new float[maxBatch * draftVocab];
        EmbedProducts = new[] { K, V, Q };
        HiddenProducts = new[] { Tkv, Tv, T };
        GateUp = new[] { Gate, Up };
        _all = new[] { G, Fc, Gathered, E, NE, NG, Normed, Delta, Out, Q, T, Attended, K, V, Tkv, Tv, Gate, Up, DeviceLogits, LowRank }
            .Where(t => t != null).ToArray()!;
    }

    /// <summary>Most rows one step may take.</summary>
    public int MaxBatch { get; }

    /// <summary>The head's keys and values: committed positions first, then the drafted nodes of the current round.</summary>
    public KvCache Cache { get; }

    internal DeviceTensor G { get; }          // [maxBatch, H] g (fc output or fed-back output); h, then h2 after a step
    internal DeviceTensor Fc { get; }         // [maxBatch, H] fc output of target feature rows
    internal DeviceTensor Gathered { get; }   // [maxBatch, H] rows gathered from a feature or output
    internal DeviceTensor E { get; }          // [maxBatch, H] token embeddings
    internal DeviceTensor NE { get; }         // [maxBatch, H] input_layernorm(E)
    internal DeviceTensor NG { get; }         // [maxBatch, H] hidden_norm(G)
    internal DeviceTensor Normed { get; }     // [maxBatch, H] normed input of fc or the MLP
    internal DeviceTensor Delta { get; }      // [maxBatch, H] a sub-block's output before the residual add
    internal DeviceTensor Out { get; }        // [maxBatch, H] norm(h2)
    internal DeviceTensor Q { get; }          // [maxBatch, heads·hd]
    internal DeviceTensor T { get; }          // [maxBatch, heads·hd] the g half of q
    internal DeviceTensor Attended { get; }   // [maxBatch, heads·hd]
    internal DeviceTensor K { get; }          // [maxBatch, kvHeads·hd]
    internal DeviceTensor V { get; }          // [maxBatch, kvHeads·hd]
    internal DeviceTensor Tkv { get; }        // [maxBatch, kvHeads·hd] the g half of k
    internal DeviceTensor Tv { get; }         // [maxBatch, kvHeads·hd] the g half of v
    internal DeviceTensor[] EmbedProducts { get; }  // K, V, Q: the embedding half's grouped outputs
    internal DeviceTensor[] HiddenProducts { get; } // Tkv, Tv, T: the g half's grouped outputs
    internal DeviceTensor[] GateUp { get; }         // Gate, Up
    internal DeviceTensor Gate { get; }       // [maxBatch, ffn]
    internal DeviceTensor Up { get; }         // [maxBatch, ffn]
    internal DeviceTensor DeviceLogits { get; } // [maxBatch, Vd]
    internal DeviceTensor? LowRank { get; }   // [maxBatch, r] U·out of a low-rank head
    internal float[] Logits { get; }          // [maxBatch, Vd] host copy

    /// <inheritdoc />
    public void Dispose()
    {
        Cache.Dispose();
        foreach (var t in _all) t.Dispose();
    }
}
