using ILGPU;
using ILGPU.Runtime;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>A tensor in device memory of an ILGPU accelerator: F32 activations and caches, or weights
/// in their stored dtype (F16 and BF16 as raw 16-bit values).</summary>
public sealed class IlgpuTensor : DeviceTensor
{
    private readonly MemoryBuffer _buffer;

    internal IlgpuTensor(DType dtype, int[] shape, MemoryBuffer1D<float, Stride1D.Dense> buffer) : base(dtype, shape)
    {
        _buffer = buffer;
        F32 = buffer.View;
    }

    internal IlgpuTensor(DType dtype, int[] shape, MemoryBuffer1D<ushort, Stride1D.Dense> buffer) : base(dtype, shape)
    {
        _buffer = buffer;
        U16 = buffer.View;
    }

    /// <summary>The values of an F32 tensor (empty for other dtypes).</summary>
    internal ArrayView<float> F32 { get; }

    /// <summary>The raw 16-bit values of an F16 or BF16 tensor (empty for other dtypes).</summary>
    internal ArrayView<ushort> U16 { get; }

    /// <inheritdoc />
    public override void Dispose() => _buffer.Dispose();
}
