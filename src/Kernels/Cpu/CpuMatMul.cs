using System.Numerics.Tensors;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>y = x · Wᵀ on the CPU: work split over blocks of weight rows; every weight row is loaded
/// once and used for all token rows of x while it is in L1.</summary>
internal sealed unsafe class CpuMatMul : ParallelJob
{
    private const int RowsPerBlock = 16;

    private readonly WorkerPool _pool;
    private float* _x;
    private float* _y;
    private nint _w;
    private DType _dtype;
    private int _rows;
    private int _in;
    private int _out;

    [ThreadStatic] private static float[]? t_rowScratch;

    public CpuMatMul(WorkerPool pool) => _pool = pool;

    public void Run(CpuTensor x, CpuTensor weight, CpuTensor y, int rows)
    {
        if (weight.Shape.Length != 2) throw new ArgumentException($"matmul weight must be 2-D, got [{string.Join(", ", weight.Shape)}]");
        if (x.Cols != weight.Cols) throw new ArgumentException($"matmul: x has {x.Cols} columns, weight has {weight.Cols}");
        if (y.Cols != weight.Rows) throw new ArgumentException($"matmul: output has {y.Cols} columns, weight has {weight.Rows} rows");
        if (rows > x.Rows || rows > y.Rows) throw new ArgumentException($"matmul: {rows} rows exceed the buffers");
        _x = (float*)x.Pointer;
        _y = (float*)y.Pointer;
        _w = weight.Pointer;
        _dtype = weight.DType;
        _rows = rows;
        _in = weight.Cols;
        _out = weight.Rows;
        _pool.Run(this, (_out + RowsPerBlock - 1) / RowsPerBlock);
    }

    public override void Execute(int index)
    {
        int start = index * RowsPerBlock;
        int end = Math.Min(start + RowsPerBlock, _out);
        int n = _in;
        float[] scratch = t_rowScratch is { } s && s.Length >= n ? s : (t_rowScratch = new float[n]);
        for (int o = start; o < end; o++)
        {
            ReadOnlySpan<float> w = WeightRow(o, n, scratch);
            for (int r = 0; r < _rows; r++)
            {
                _y[(long)r * _out + o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(_x + (long)r * n, n), w);
            }
        }
    }

    private ReadOnlySpan<float> WeightRow(int o, int n, float[] scratch)
    {
        switch (_dtype)
        {
            case DType.F32:
                return new ReadOnlySpan<float>((float*)_w + (long)o * n, n);
            case DType.BF16:
                WideningKernels.BF16ToF32(new ReadOnlySpan<ushort>((ushort*)_w + (long)o * n, n), scratch);
                return scratch.AsSpan(0, n);
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)_w + (long)o * n, n), scratch);
                return scratch.AsSpan(0, n);
            default:
                throw new NotSupportedException($"matmul on {_dtype} weights is not supported by the CPU backend yet");
        }
    }
}
