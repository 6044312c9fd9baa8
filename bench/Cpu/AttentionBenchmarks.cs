using BenchmarkDotNet.Attributes;
using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;

namespace SpecCore.Bench.Cpu;

/// <summary>CpuBackend.Attention for stories110M heads (12 × 64) and stories260K heads (8 × 8 over 4 KV heads)
/// over a KV prefix of 128 or 1000 tokens, for 1 new token and an 8-token chain.</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private CpuBackend _backend = null!;
    private DeviceTensor _q = null!, _k = null!, _v = null!, _o = null!;
    private int[] _parents = null!;

    /// <summary>"heads/kvHeads/headDim".</summary>
    [Params("12/12/64", "8/4/8")]
    public string Heads { get; set; } = "12/12/64";

    /// <summary>Committed tokens in the cache.</summary>
    [Params(128, 1000)]
    public int Prefix { get; set; }

    /// <summary>New tokens (a causal chain).</summary>
    [Params(1, 8)]
    public int Tokens { get; set; }

    private int _heads, _kvHeads, _headDim;

    [GlobalSetup]
    public void Setup()
    {
        int[] h = Heads.Split('/').Select(int.Parse).ToArray();
        (_heads, _kvHeads, _headDim) = (h[0], h[1], h[2]);
        _backend = new CpuBackend(2);
        int cap = Prefix + Tokens;
        _q = _backend.Allocate(DType.F32, Tokens, _heads * _headDim);
        _k = _backend.Allocate(DType.F32, cap, _kvHeads * _headDim);
        _v = _backend.Allocate(DType.F32, cap, _kvHeads * _headDim);
        _o = _backend.Allocate(DType.F32, Tokens, _heads * _headDim);
        var rng = new Random(1);
        foreach (var t in new[] { _q, _k, _v })
        {
            var data = new float[t.ElementCount];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            _backend.Write(t, data);
        }
        _parents = Enumerable.Range(-1, Tokens).ToArray();
    }

    /// <summary>One attention call.</summary>
    [Benchmark]
    public void Attention() =>
        _backend.Attention(_q, _k, _v, _o, _heads, _kvHeads, _headDim, new AttentionBatch(Prefix, _parents));

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _q, _k, _v, _o }) t.Dispose();
        _backend.Dispose();
    }
}
