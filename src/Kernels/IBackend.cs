using SpecCore.Kernels.Sampling;
using SpecCore.Tensors;

namespace SpecCore.Kernels;

/// <summary>
/// The operations a transformer forward pass needs, implemented once per kind of hardware
/// (<c>CpuBackend</c>: SIMD on host memory; <c>IlgpuBackend</c>: GPU kernels). A model is written
/// once against this contract. Activations are F32 [rows, cols] tensors whose first
/// <c>rows</c> rows are live; weights keep their stored dtype ([out, in] for matrices).
/// Calls may be asynchronous on a device; <see cref="Read"/> waits for the work before it.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>Short name for logs ("cpu", "cuda", ...).</summary>
    string Name { get; }

    /// <summary>Human description of the device and its settings (threads, memory, ...).</summary>
    string Description { get; }

    /// <summary>True when KV caches may be F16 tensors: <see cref="CopyRows"/> then narrows F32 rows into them,
    /// <see cref="GatherRows"/> moves their rows and <see cref="Attention"/> widens them as it reads.</summary>
    bool SupportsF16KvCache { get; }

    /// <summary>Makes a weight available to kernels. The CPU backend uses host memory in place; a GPU
    /// copies it once. The host memory must outlive the returned tensor on backends that alias it. Weights must be
    /// finite (the model loader checks): the CPU backend's F16 kernels do not carry infinities and NaNs through.</summary>
    DeviceTensor UploadWeight(HostTensor weight);

    /// <summary>Allocates a zeroed tensor of <paramref name="dtype"/> (F32 for activations and caches).</summary>
    DeviceTensor Allocate(DType dtype, params int[] shape);

    /// <summary>Copies host values into <paramref name="destination"/> starting at element <paramref name="offset"/>.</summary>
    void Write(DeviceTensor destination, ReadOnlySpan<float> source, long offset = 0);

    /// <summary>Copies elements [offset, offset + destination.Length) to the host, after pending work.</summary>
    void Read(DeviceTensor source, Span<float> destination, long offset = 0);

    /// <summary>output[i, :] = table[tokens[i], :] widened to F32. table: [vocab, dim]; output: [rows, dim].</summary>
    void Embed(DeviceTensor table, ReadOnlySpan<int> tokens, DeviceTensor output);

    /// <summary>output[r] = x[r] / rms(x[r]) * weight for r &lt; rows. x, output: [rows, dim]; weight: [dim].</summary>
    void RmsNorm(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows, float eps);

    /// <summary>x[r, h·headDim + i] = x[r, h·headDim + i] / rms(x[r, head h]) * weight[i] in place, for each of
    /// <paramref name="heads"/> heads of the first rows (Qwen3's per-head q/k norm). x: [rows, heads * headDim];
    /// weight: [headDim].</summary>
    void HeadRmsNorm(DeviceTensor x, DeviceTensor weight, int rows, int heads, float eps);

    /// <summary>x[r, :] += bias for r &lt; rows (projection biases). x: [rows, n]; bias: [n] F32.</summary>
    void AddBias(DeviceTensor x, DeviceTensor bias, int rows);

    /// <summary>output[r, o] = sum_i x[r, i] * weight[o, i] for r &lt; rows. x: [rows, in]; weight: [out, in];
    /// output: [rows, out]. Each weight row is read once for all rows (a GEMM, not rows GEMVs).</summary>
    void MatMul(DeviceTensor x, DeviceTensor weight, DeviceTensor output, int rows);

    /// <summary>outputs[i] = x · weights[i]ᵀ for the first rows, for up to four matrices that share the input (a layer's
    /// Q/K/V projections, or gate and up): the same results as one <see cref="MatMul"/> per matrix, in one pass
    /// over the input and, on the CPU, one dispatch to the worker threads. Weights may differ in dtype and rows.</summary>
    void MatMulGroup(DeviceTensor x, ReadOnlySpan<DeviceTensor> weights, ReadOnlySpan<DeviceTensor> outputs, int rows);

    /// <summary>Rotates x in place with rotary embeddings in the Hugging Face rotate-half layout:
    /// for head h, pair (j, j + headDim/2) of row r turns by angle positions[r] * invFreq[j].
    /// x: [rows, heads * headDim].</summary>
    void Rope(DeviceTensor x, int rows, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table);

    /// <summary>Builds the cos/sin table for positions [0, maxPositions) from the inverse frequencies
    /// (already scaled, e.g. by llama3 rope_scaling); [headDim / 2] values.</summary>
    RopeTable CreateRopeTable(ReadOnlySpan<double> inverseFrequencies, int maxPositions);

    /// <summary>Copies rows [sourceRow, sourceRow + rows) of <paramref name="source"/> to rows
    /// [destinationRow, destinationRow + rows) of <paramref name="destination"/> (same column count; F32, or from F32
    /// into an F16 KV cache, rounding to nearest where <see cref="SupportsF16KvCache"/>).</summary>
    void CopyRows(DeviceTensor source, int sourceRow, DeviceTensor destination, int destinationRow, int rows);

    /// <summary>Moves rows so that row <c>sourceRows[i]</c> lands at <c>destinationRow + i</c>
    /// (KV-cache compaction after tree verification). sourceRows is ascending with
    /// sourceRows[i] ≥ destinationRow + i, so moving in order never overwrites a pending row.</summary>
    void GatherRows(DeviceTensor tensor, ReadOnlySpan<int> sourceRows, int destinationRow);

    /// <summary>Scaled dot-product attention with grouped-query heads. q, output: [rows, heads * headDim];
    /// keyCache, valueCache: [capacity, kvHeads * headDim], holding the batch's own keys and values at
    /// slots PrefixLength + i already. Each row attends as <paramref name="batch"/> describes, within its
    /// sliding window when it has one.</summary>
    void Attention(DeviceTensor q, DeviceTensor keyCache, DeviceTensor valueCache, DeviceTensor output,
        int heads, int kvHeads, int headDim, AttentionBatch batch);

    /// <summary>gate[r] = silu(gate[r]) * up[r] for r &lt; rows. gate, up: [rows, hidden].</summary>
    void SwiGlu(DeviceTensor gate, DeviceTensor up, int rows);

    /// <summary>x[r] += y[r] for r &lt; rows (residual connection). x, y: [rows, dim].</summary>
    void Add(DeviceTensor x, DeviceTensor y, int rows);

    /// <summary>Index of the largest value of each of the first rows of logits [rows, vocab] (ties: lowest index).</summary>
    void ArgMax(DeviceTensor logits, int rows, Span<int> result);

    /// <summary>Chooses one token for each of the first rows of logits [rows, vocab] exactly as
    /// <see cref="Sampler.Sample(ReadOnlySpan{float}, float)"/> does with <c>uniforms[r]</c> (drawn on the host
    /// with <see cref="Sampler.DrawUniforms"/>): the argmax (lowest index on ties) when greedy, otherwise
    /// softmax(logits / T) restricted to top-k and top-p (candidates by probability descending, then id
    /// ascending), renormalised, inverse-CDF over ids. Device and host agree up to float rounding when a
    /// uniform lies on a CDF boundary. Only the token ids come back to the host; <paramref name="uniforms"/>
    /// (≥ rows values in [0, 1)) may be empty when greedy.</summary>
    void SampleTokens(DeviceTensor logits, int rows, SamplingOptions options, ReadOnlySpan<float> uniforms, Span<int> result);
}
