using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SpecCore.Kernels;
using SpecCore.Kernels.Ilgpu;
using SpecCore.Tensors;

namespace SpecCore.Bench.Ilgpu;

/// <summary>A summary column derived from the mean time of a benchmark case and the work it does
/// (bytes moved or floating-point operations), e.g. GB/s and GFLOP/s.</summary>
public sealed class ThroughputColumn : IColumn
{
    private readonly Func<BenchmarkCase, double> _workPerOp;

    /// <summary>Creates a column: <paramref name="unitsPerOp"/> gives the work of one operation of a case
    /// in units of 1e9 (GB or GFLOP).</summary>
    public ThroughputColumn(string name, Func<BenchmarkCase, double> unitsPerOp, string legend)
    {
        ColumnName = name;
        Id = "SpecCore." + name;
        _workPerOp = unitsPerOp;
        Legend = legend;
    }

    public string Id { get; }
    public string ColumnName { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend { get; }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || stats.Mean <= 0) return "-";
        double seconds = stats.Mean * 1e-9;
        return (_workPerOp(benchmarkCase) / seconds).ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
    }

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    internal static T Param<T>(BenchmarkCase c, string name) => (T)c.Parameters[name];
}

/// <summary>ILGPU devices usable on this machine (the CPU accelerator always; CUDA/OpenCL when present).</summary>
public static class BenchDevices
{
    public static IEnumerable<string> Usable() =>
        IlgpuDevices.List().Where(d => d.Usable).Select(d => d.Kind).Distinct().ToArray();
}

/// <summary>ILGPU matmul: one token (GEMV kernel) and a verification batch of 8 (shared-memory tiled
/// kernel), F32 and BF16 weights. GB/s counts weight bytes plus activations; GFLOP/s counts 2·rows·in·out.</summary>
[Config(typeof(Config))]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class IlgpuMatMulBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("GB/s", c => Bytes(c) / 1e9, "weights + activations read and written per second"));
            AddColumn(new ThroughputColumn("GFLOP/s", c => Flops(c) / 1e9, "2·rows·in·out per second"));
        }
    }

    private IlgpuBackend _backend = null!;
    private NativeBuffer _host = null!;
    private DeviceTensor _w = null!, _x = null!, _y = null!;

    [ParamsSource(typeof(BenchDevices), nameof(BenchDevices.Usable))]
    public string Device { get; set; } = "ilgpu-cpu";

    [Params(1, 8)]
    public int Rows { get; set; }

    [Params(DType.F32, DType.BF16)]
    public DType Type { get; set; }

    /// <summary>in = out: 1024 (a 1-B model's projections are 2048; the CPU accelerator is slow).</summary>
    [Params(1024)]
    public int Dim { get; set; }

    private static double Bytes(BenchmarkCase c)
    {
        int dim = ThroughputColumn.Param<int>(c, nameof(Dim));
        int rows = ThroughputColumn.Param<int>(c, nameof(Rows));
        DType t = ThroughputColumn.Param<DType>(c, nameof(Type));
        return t.ByteSize((long)dim * dim) + rows * 2.0 * dim * 4;
    }

    private static double Flops(BenchmarkCase c)
    {
        int dim = ThroughputColumn.Param<int>(c, nameof(Dim));
        return 2.0 * ThroughputColumn.Param<int>(c, nameof(Rows)) * dim * dim;
    }

    [GlobalSetup]
    public unsafe void Setup()
    {
        _backend = IlgpuBackend.Create(Device);
        long n = (long)Dim * Dim;
        _host = new NativeBuffer(Type.ByteSize(n));
        var rng = new Random(1);
        for (long i = 0; i < n; i++)
        {
            float v = (float)(rng.NextDouble() - 0.5);
            if (Type == DType.F32) ((float*)_host.Pointer)[i] = v;
            else ((ushort*)_host.Pointer)[i] = FloatConversion.FloatToBF16(v);
        }
        _w = _backend.UploadWeight(new HostTensor("w", Type, new[] { Dim, Dim }, _host.Pointer, _host.ByteLength));
        _x = _backend.Allocate(DType.F32, Rows, Dim);
        _y = _backend.Allocate(DType.F32, Rows, Dim);
        _backend.Write(_x, Enumerable.Range(0, Rows * Dim).Select(i => (float)Math.Sin(i)).ToArray());
        _backend.Synchronize();
    }

    [Benchmark]
    public void MatMul()
    {
        _backend.MatMul(_x, _w, _y, Rows);
        _backend.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _w.Dispose();
        _x.Dispose();
        _y.Dispose();
        _backend.Dispose();
        _host.Dispose();
    }
}

/// <summary>ILGPU attention over a KV cache (8 heads, 2 KV heads, head_dim 64): one decode token and a
/// chain of 8 draft tokens, at a short prefix (single pass) and a long one (split over the sequence plus
/// the combine pass). GB/s counts the K and V rows read once; GFLOP/s counts 4·heads·headDim per visible key.</summary>
[Config(typeof(Config))]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class IlgpuAttentionBenchmarks
{
    private const int Heads = 8, KvHeads = 2, HeadDim = 64;

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("GB/s", c => Bytes(c) / 1e9, "K and V cache bytes read per second"));
            AddColumn(new ThroughputColumn("GFLOP/s", c => Flops(c) / 1e9, "QK and PV multiply-adds per second"));
        }
    }

    private IlgpuBackend _backend = null!;
    private DeviceTensor _q = null!, _k = null!, _v = null!, _o = null!;
    private int[] _parents = null!;

    [ParamsSource(typeof(BenchDevices), nameof(BenchDevices.Usable))]
    public string Device { get; set; } = "ilgpu-cpu";

    [Params(1, 8)]
    public int Rows { get; set; }

    [Params(128, 1024)]
    public int Prefix { get; set; }

    private static double Bytes(BenchmarkCase c)
    {
        int keys = ThroughputColumn.Param<int>(c, nameof(Prefix)) + ThroughputColumn.Param<int>(c, nameof(Rows));
        return 2.0 * keys * KvHeads * HeadDim * 4;
    }

    private static double Flops(BenchmarkCase c)
    {
        int rows = ThroughputColumn.Param<int>(c, nameof(Rows));
        int prefix = ThroughputColumn.Param<int>(c, nameof(Prefix));
        double visible = rows * (prefix + (rows + 1) / 2.0);
        return 4.0 * Heads * HeadDim * visible;
    }

    [GlobalSetup]
    public void Setup()
    {
        _backend = IlgpuBackend.Create(Device);
        int capacity = Prefix + Rows;
        var rng = new Random(2);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _q = _backend.Allocate(DType.F32, Rows, Heads * HeadDim);
        _o = _backend.Allocate(DType.F32, Rows, Heads * HeadDim);
        _k = _backend.Allocate(DType.F32, capacity, KvHeads * HeadDim);
        _v = _backend.Allocate(DType.F32, capacity, KvHeads * HeadDim);
        _backend.Write(_q, R(Rows * Heads * HeadDim));
        _backend.Write(_k, R(capacity * KvHeads * HeadDim));
        _backend.Write(_v, R(capacity * KvHeads * HeadDim));
        _parents = Enumerable.Range(0, Rows).Select(i => i - 1).ToArray();
        _backend.Synchronize();
    }

    [Benchmark]
    public void Attention()
    {
        _backend.Attention(_q, _k, _v, _o, Heads, KvHeads, HeadDim, new AttentionBatch(Prefix, _parents));
        _backend.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { _q, _k, _v, _o }) t.Dispose();
        _backend.Dispose();
    }
}
