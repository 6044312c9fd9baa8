using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>A tensor in host memory: either owned (activations, converted weights) or aliasing memory
/// that someone else keeps alive (a memory-mapped weight).</summary>
public sealed unsafe class CpuTensor : DeviceTensor
{
    private readonly NativeBuffer? _owned;

    /// <summary>Wraps memory owned elsewhere.</summary>
    public CpuTensor(DType dtype, int[] shape, nint pointer) : base(dtype, shape) => Pointer = pointer;

    /// <summary>Takes ownership of <paramref name="buffer"/>.</summary>
    public CpuTensor(DType dtype, int[] shape, NativeBuffer buffer) : base(dtype, shape)
    {
        _owned = buffer;
        Pointer = buffer.Pointer;
    }

    /// <summary>Takes ownership of <paramref name="buffer"/> holding a Q8_0 or Q4_0 matrix in the CPU backend's
    /// row-interleaved layout (<see cref="PackedQuantLayout"/>).</summary>
    internal CpuTensor(DType dtype, int[] shape, NativeBuffer buffer, bool rowInterleaved) : this(dtype, shape, buffer) =>
        RowInterleaved = rowInterleaved;

    /// <summary>True when the tensor is a Q8_0 / Q4_0 matrix in <see cref="PackedQuantLayout"/>, false for the plain
    /// row-major layout of its dtype.</summary>
    internal bool RowInterleaved { get; }

    /// <inheritdoc />
    public override bool ReadsUploadedMemory => _owned == null;

    /// <summary>First byte.</summary>
    public nint Pointer { get; }

    /// <summary>The tensor as F32 values (F32 tensors only).</summary>
    public Span<float> F32 => DType == DType.F32
        ? new Span<float>((void*)Pointer, checked((int)ElementCount))
        : throw new InvalidOperationException($"tensor is {DType}, not F32");

    /// <summary>Row <paramref name="row"/> of a 2-D F32 tensor.</summary>
    public Span<float> Row(int row) => new((float*)Pointer + (long)row * Cols, Cols);

    /// <inheritdoc />
    public override void Dispose() => _owned?.Dispose();
}
