using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Seeded random weights for a config, made in memory: tiny models for tests and real-size
/// models for benchmarks without downloads. Values are scaled so activations stay in a sane range.</summary>
public sealed unsafe class SyntheticWeights : IWeightSource
{
    private readonly Dictionary<string, HostTensor> _tensors = new(StringComparer.Ordinal);
    private readonly List<NativeBuffer> _buffers = new();

    /// <summary>Makes every tensor a Llama checkpoint of <paramref name="config"/> has, stored as <paramref name="dtype"/>
    /// (F32, F16 or BF16). <paramref name="untiedHead"/> adds a separate lm_head.weight.</summary>
    public SyntheticWeights(ModelConfig config, int seed, DType dtype = DType.F32, bool? untiedHead = null)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16)) throw new ArgumentException("synthetic weights are F32, F16 or BF16", nameof(dtype));
        var rng = new Random(seed);
        int dim = config.HiddenSize;
        Add("model.embed_tokens.weight", dtype, rng, 1.0f, config.VocabSize, dim);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            AddNorm(p + "input_layernorm.weight", rng, dim);
            Add(p + "self_attn.q_proj.weight", dtype, rng, Scale(dim), config.QueryDim, dim);
            Add(p + "self_attn.k_proj.weight", dtype, rng, Scale(dim), config.KvDim, dim);
            Add(p + "self_attn.v_proj.weight", dtype, rng, Scale(dim), config.KvDim, dim);
            Add(p + "self_attn.o_proj.weight", dtype, rng, Scale(config.QueryDim), dim, config.QueryDim);
            AddNorm(p + "post_attention_layernorm.weight", rng, dim);
            Add(p + "mlp.gate_proj.weight", dtype, rng, Scale(dim), config.IntermediateSize, dim);
            Add(p + "mlp.up_proj.weight", dtype, rng, Scale(dim), config.IntermediateSize, dim);
            Add(p + "mlp.down_proj.weight", dtype, rng, Scale(config.IntermediateSize), dim, config.IntermediateSize);
        }
        AddNorm("model.norm.weight", rng, dim);
        if (untiedHead ?? !config.TieWordEmbeddings) Add("lm_head.weight", dtype, rng, Scale(dim), config.VocabSize, dim);
        Description = $"synthetic weights (seed {seed}, {dtype.Name()})";
    }

    private static float Scale(int fanIn) => 1.7f / MathF.Sqrt(fanIn);

    /// <inheritdoc />
    public string Description { get; }

    private void AddNorm(string name, Random rng, int n)
    {
        var buffer = new NativeBuffer(n * 4L);
        Span<float> v = buffer.AsSpan<float>();
        for (int i = 0; i < n; i++) v[i] = 1f + 0.2f * (float)(rng.NextDouble() * 2 - 1);
        _buffers.Add(buffer);
        _tensors[name] = new HostTensor(name, DType.F32, new[] { n }, buffer.Pointer, buffer.ByteLength);
    }

    private void Add(string name, DType dtype, Random rng, float scale, int rows, int cols)
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
