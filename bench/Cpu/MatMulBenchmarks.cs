using BenchmarkDotNet.Attributes;
using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;

namespace SpecCore.Bench.Cpu;

/// <summary>
/// CpuBackend.MatMul per dtype at the shapes of a stories110M-sized model (768×768 attention, 2048×768
/// gate/up, 768×2048 down, 32000×768 LM head), for 1 token (GEMV) and 8 tokens (verify-8 GEMM).
/// Throughput: weight GB/s = WeightBytes / mean time; GFLOP/s = 2 · Out · In · Tokens / mean time.
/// </summary>
[MemoryDiagnoser]
public unsafe class MatMulBenchmarks
{
    private CpuBackend _backend = null!;
    private CpuTensor _w = null!, _x = null!, _y = null!;

    /// <summary>Weight dtype.</summary>
    [Params(DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0)]
    public DType WeightType { get; set; }

    /// <summary>Weight shape "out x in".</summary>
    [Params("768x768", "2048x768", "768x2048", "32000x768")]
    public string Shape { get; set; } = "768x768";

    /// <summary>Token rows multiplied at once.</summary>
    [Params(1, 8)]
    public int Tokens { get; set; }

    /// <summary>Threads of the backend.</summary>
    [Params(2)]
    public int Threads { get; set; }

    /// <summary>Bytes of the weight matrix (streamed once per call).</summary>
    public long WeightBytes => _w.ByteLength;

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('x');
        int outRows = int.Parse(parts[0]), inCols = int.Parse(parts[1]);
        _backend = new CpuBackend(Threads);
        var rng = new Random(42);
        var buffer = new NativeBuffer(WeightType.ByteSize((long)outRows * inCols));
        var row = new float[inCols];
        for (int r = 0; r < outRows; r++)
        {
            for (int i = 0; i < inCols; i++) row[i] = (float)(rng.NextDouble() * 2 - 1) * 0.05f;
            byte* dst = (byte*)buffer.Pointer + r * WeightType.ByteSize(inCols);
            switch (WeightType)
            {
                case DType.F32: row.CopyTo(new Span<float>(dst, inCols)); break;
                case DType.BF16: for (int i = 0; i < inCols; i++) ((ushort*)dst)[i] = FloatConversion.FloatToBF16(row[i]); break;
                case DType.F16: for (int i = 0; i < inCols; i++) ((ushort*)dst)[i] = FloatConversion.FloatToF16(row[i]); break;
                case DType.Q8_0: Q8Format.QuantizeRow(row, dst); break;
                case DType.Q4_0: Q4Format.QuantizeRow(row, dst); break;
            }
        }
        _w = new CpuTensor(WeightType, new[] { outRows, inCols }, buffer);
        _x = (CpuTensor)_backend.Allocate(DType.F32, Tokens, inCols);
        _y = (CpuTensor)_backend.Allocate(DType.F32, Tokens, outRows);
        Span<float> x = _x.F32;
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
    }

    /// <summary>y = x · Wᵀ.</summary>
    [Benchmark]
    public void MatMul() => _backend.MatMul(_x, _w, _y, Tokens);

    [GlobalCleanup]
    public void Cleanup()
    {
        _w.Dispose();
        _x.Dispose();
        _y.Dispose();
        _backend.Dispose();
    }
}
