using SpecCore.Kernels;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>The keys and values of one sequence, per layer, on the model's backend.
/// After speculative verification only the accepted tokens are kept: <see cref="Truncate"/> for a chain,
/// <see cref="Compact"/> for a tree. Nothing is recomputed. Rows are F32, or F16 to halve the cache's memory and the
/// bytes attention reads (the backend narrows keys and values as it stores them and widens them as it reads).</summary>
public sealed class KvCache : IDisposable
{
    private readonly IBackend _backend;
    private readonly DeviceTensor[] _keys;   // per layer [capacity, kvDim] of DType
    private readonly DeviceTensor[] _values; // per layer [capacity, kvDim] of DType

    /// <summary>Allocates a cache for <paramref name="capacity"/> tokens with rows of <paramref name="dtype"/> (F32 or F16).</summary>
    public KvCache(IBackend backend, int layers, int capacity, int kvDim, DType dtype = DType.F32)
    {
        if (dtype is not (DType.F32 or DType.F16)) throw new ArgumentException($"a KV cache holds f32 or f16, not {dtype.Name()}", nameof(dtype));
        if (dtype == DType.F16 && !backend.SupportsF16KvCache)
            throw new NotSupportedException($"the {backend.Name} backend keeps its KV cache in f32 only (an f16 cache was asked for)");
        _backend = backend;
        Capacity = capacity;
        DType = dtype;
        _keys = new DeviceTensor[layers];
        _values = new DeviceTensor[layers];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = backend.Allocate(dtype, capacity, kvDim);
            _values[l] = backend.Allocate(dtype, capacity, kvDim);
        }
    }

    /// <summary>Element type of the stored keys and values.</summary>
    public DType DType { get; }

    /// <summary>Tokens the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Tokens stored (committed plus any pending batch written by the last forward).</summary>
    public int Length { get; internal set; }

    /// <summary>Keys of layer <paramref name="layer"/>: [capacity, kvDim].</summary>
    public DeviceTensor Keys(int layer) => _keys[layer];

    /// <summary>Values of layer <paramref name="layer"/>: [capacity, kvDim].</summary>
    public DeviceTensor Values(int layer) => _values[layer];

    /// <summary>Drops every token from <paramref name="length"/> on.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"cannot truncate a cache of {Length} tokens to {length}");
        Length = length;
    }

    /// <summary>Keeps the tokens of a verified tree path: the batch that started at <paramref name="prefixLength"/>
    /// keeps entries <paramref name="keptBatchIndices"/> (ascending), moved to prefixLength, prefixLength + 1, ...</summary>
    public void Compact(int prefixLength, ReadOnlySpan<int> keptBatchIndices)
    {
        if (prefixLength < 0 || prefixLength + keptBatchIndices.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(prefixLength), "compaction range is outside the cache");
        Span<int> rows = keptBatchIndices.Length <= 256 ? stackalloc int[keptBatchIndices.Length] : new int[keptBatchIndices.Length];
        bool moves = false;
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = prefixLength + keptBatchIndices[i];
            if (rows[i] >= Length) throw new ArgumentOutOfRangeException(nameof(keptBatchIndices), $"batch index {keptBatchIndices[i]} is beyond the cache");
            if (i > 0 && rows[i] <= rows[i - 1]) throw new ArgumentException("kept indices must be ascending", nameof(keptBatchIndices));
            moves |= keptBatchIndices[i] != i;
        }
        if (moves)
        {
            for (int l = 0; l < _keys.Length; l++)
            {
                _backend.GatherRows(_keys[l], rows, prefixLength);
                _backend.GatherRows(_values[l], rows, prefixLength);
            }
        }
        Length = prefixLength + keptBatchIndices.Length;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
