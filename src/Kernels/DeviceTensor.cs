using SpecCore.Tensors;

namespace SpecCore.Kernels;

/// <summary>A tensor whose memory belongs to a backend (host memory for the CPU backend, device
/// memory for a GPU). Shapes are row-major; activations are [rows, cols] with rows = tokens.</summary>
public abstract class DeviceTensor : IDisposable
{
    /// <summary>Creates the shared description of a backend tensor.</summary>
    protected DeviceTensor(DType dtype, int[] shape)
    {
        DType = dtype;
        Shape = shape;
        long n = 1;
        foreach (int d in shape) n *= d;
        ElementCount = n;
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>Row-major shape.</summary>
    public int[] Shape { get; }
    /// <summary>Number of elements.</summary>
    public long ElementCount { get; }
    /// <summary>Rows (first dimension; 1 for a vector).</summary>
    public int Rows => Shape.Length == 1 ? 1 : Shape[0];
    /// <summary>Columns (last dimension).</summary>
    public int Cols => Shape[^1];
    /// <summary>Bytes occupied on the backend.</summary>
    public long ByteLength => DType.ByteSize(ElementCount);

    /// <summary>True when the tensor reads the host memory it was uploaded from, which must then outlive it; false
    /// when the backend made its own copy, so that memory may be freed once the upload has returned.</summary>
    public virtual bool ReadsUploadedMemory => true;

    /// <inheritdoc />
    public abstract void Dispose();
}
