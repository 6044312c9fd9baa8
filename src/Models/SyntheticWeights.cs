using SpecCore.Models.Families;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Seeded random weights for a config, made in memory: tiny models for tests and real-size
/// models for benchmarks without downloads. Values are scaled so activations stay in a sane range.</summary>
public sealed unsafe class SyntheticWeights : IWeightSource
{
    private readonly Dictionary<string, HostTensor> _tensors = new(StringComparer.Ordinal);
    private readonly List<NativeBuffer> _buffers = new();

    /// <summary>Makes every tensor a checkpoint of <paramref name="config"/> has (its family's <see cref="WeightMap"/>),
    /// matrices stored as <paramref name="dtype"/> (F32, F16 or BF16). <paramref name="untiedHead"/> adds a
    /// separate lm_head.weight.</summary>
    public SyntheticWeights(ModelConfig config, int seed, DType dtype = DType.F32, bool? untiedHead = null)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16)) throw new ArgumentException("synthetic weights are F32, F16 or BF16", nameof(dtype));
        var rng = new Random(seed);
        Add(WeightMap.Embedding(config), dtype, rng);
        for (int l = 0; l < config.Layers; l++)
            foreach (WeightSpec spec in WeightMap.Layer(config, l).All()) Add(spec, dtype, rng);
        Add(WeightMap.FinalNorm(config), dtype, rng);
        if (untiedHead ?? !config.TieWordEmbeddings) Add(WeightMap.LmHead(config), dtype, rng);
        Description = $"synthetic weights (seed {seed}, {dtype.Name()})";
    }

    private void Add(WeightSpec spec, DType dtype, Random rng)
    {
        switch (spec.Kind)
        {
            case WeightKind.Norm:
                AddVector(spec.Name, rng, spec.Rows, center: 1f, spread: 0.2f);
                break;
            case WeightKind.Bias:
                AddVector(spec.Name, rng, spec.Rows, center: 0f, spread: 0.3f);
                break;
            default:
                // The embedding is looked up, not multiplied, so it keeps unit scale.
                float scale = spec.Name == WeightMap.EmbeddingName ? 1.0f : Scale(spec.Cols);
                AddMatrix(spec.Name, dtype, rng, scale, spec.Rows, spec.Cols);
                break;
        }
    }
    private static float Scale(int fanIn) => 1.7f / MathF.Sqrt(fanIn);

    /// <inheritdoc />
    public string Description { get; }

    private void AddVector(string name, Random rng, int n, float center, float spread)
    {
        var buffer = new NativeBuffer(n * 4L);
        Span<float> v = buffer.AsSpan<float>();
        for (int i = 0; i < n; i++) v[i] = center + spread * (float)(rng.NextDouble() * 2 - 1);
        _buffers.Add(buffer);
        _tensors[name] = new HostTensor(name, DType.F32, new[] { n }, buffer.Pointer, buffer.ByteLength);
    }

    private void AddMatrix(string name, DType dtype, Random rng, float scale, int rows, int cols)
    {
        long n = (long)rows * cols;
        var buffer = new NativeBuffer(dtype.ByteSize(n));
        _buffers.Add(buffer);
        // Uniform in [-scale, scale] from a fast xorshift seeded by rng, so 1B-parameter models build in seconds.
        ulong state = (ulong)rng.NextInt64() | 1;
        float* f = (float*)buffer.Pointer;
        ushort* h = (ushort*)buffer.Pointer;
        for (long i = 0; i < n; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            float u = ((state >> 40) * (1f / (1 << 24)) * 2f - 1f) * scale;
            switch (dtype)
            {
                case DType.F32: f[i] = u; break;
                case DType.BF16: h[i] = FloatConversion.FloatToBF16(u); break;
                default: h[i] = FloatConversion.FloatToF16(u); break;
            }
        }
        _tensors[name] = new HostTensor(name, dtype, new[] { rows, cols }, buffer.Pointer, buffer.ByteLength);
    }

    /// <inheritdoc />
    public HostTensor Get(string name, params int[] shape)
    {
        if (!_tensors.TryGetValue(name, out HostTensor t)) throw new InvalidDataException($"{Description}: tensor '{name}' is missing");
        if (!t.Shape.AsSpan().SequenceEqual(shape)) throw new InvalidDataException($"{Description}: tensor '{name}' has shape {t.ShapeText}, expected [{string.Join(", ", shape)}]");
        return t;
    }

    /// <inheritdoc />
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }
}
