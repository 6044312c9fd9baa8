using SpecCore.Kernels;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Everything one sequence needs to run the model: its KV cache and every activation buffer,
/// sized once for batches of up to <see cref="MaxBatch"/> tokens, so a forward pass allocates nothing.</summary>
public sealed class InferenceState : IDisposable
{
    internal InferenceState(IBackend backend, ModelConfig c, int capacity, int maxBatch, DType kvType, TargetFeatureRequest? features = null)
    {
        MaxBatch = maxBatch;
        if (features != null) Features = new TargetFeatures(backend, features, c.Layers, maxBatch, c.HiddenSize);
        Cache = new KvCache(backend, c.Layers, capacity, c.KvDim, kvType);
        X = backend.Allocate(DType.F32, maxBatch, c.HiddenSize);
        Normed = backend.Allocate(DType.F32, maxBatch, c.HiddenSize);
        Delta = backend.Allocate(DType.F32, maxBatch, c.HiddenSize);
        Q = backend.Allocate(DType.F32, maxBatch, c.QueryDim);
        K = backend.Allocate(DType.F32, maxBatch, c.KvDim);
        V = backend.Allocate(DType.F32, maxBatch, c.KvDim);
        Attended = backend.Allocate(DType.F32, maxBatch, c.QueryDim);
        Gate = backend.Allocate(DType.F32, maxBatch, c.IntermediateSize);
        Up = backend.Allocate(DType.F32, maxBatch, c.IntermediateSize);
        DeviceLogits = backend.Allocate(DType.F32, maxBatch, c.VocabSize);
        Qkv = [Q, K, V];
        GateUp = [Gate, Up];
        Logits = new float[maxBatch * c.VocabSize];
        Positions = new int[maxBatch];
        ChainParents = new int[maxBatch];
        for (int i = 0; i < maxBatch; i++) ChainParents[i] = i - 1;
    }

    /// <summary>Most tokens one forward call may take.</summary>
    public int MaxBatch { get; }

    /// <summary>The sequence's keys and values.</summary>
    public KvCache Cache { get; }

    /// <summary>Tokens in the cache.</summary>
    public int Length => Cache.Length;

    /// <summary>Tokens the sequence can still grow by.</summary>
    public int Remaining => Cache.Capacity - Cache.Length;

    /// <summary>The hidden states the last forward pass kept for a draft head, or null when the state was
    /// created without a <see cref="TargetFeatureRequest"/> (then a forward pass keeps nothing).</summary>
    public TargetFeatures? Features { get; }

    internal DeviceTensor X { get; }          // [maxBatch, dim] residual stream
    internal DeviceTensor Normed { get; }     // [maxBatch, dim] normed input of a sub-block; final normed hidden state
    internal DeviceTensor Delta { get; }      // [maxBatch, dim] output of a sub-block before the residual add
    internal DeviceTensor Q { get; }          // [maxBatch, heads * headDim]
    internal DeviceTensor K { get; }          // [maxBatch, kvHeads * headDim]
    internal DeviceTensor V { get; }          // [maxBatch, kvHeads * headDim]
    internal DeviceTensor Attended { get; }   // [maxBatch, heads * headDim]
    internal DeviceTensor Gate { get; }       // [maxBatch, ffn]
    internal DeviceTensor Up { get; }         // [maxBatch, ffn]
    internal DeviceTensor DeviceLogits { get; } // [maxBatch, vocab]
    internal DeviceTensor[] Qkv { get; }      // [Q, K, V]: the outputs of one matmul group
    internal DeviceTensor[] GateUp { get; }   // [Gate, Up]: the outputs of one matmul group
    internal float[] Logits { get; }          // [maxBatch, vocab] host copy
    internal int[] Positions { get; }         // [maxBatch]
    internal int[] ChainParents { get; }      // [maxBatch] i - 1: the causal-chain parent array

    /// <inheritdoc />
    public void Dispose()
    {
        Cache.Dispose();
        Features?.Dispose();
        foreach (var t in new[] { X, Normed, Delta, Q, K, V, Attended, Gate, Up, DeviceLogits }) t.Dispose();
    }
}
