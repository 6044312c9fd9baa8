namespace SpecCore.Tensors;

/// <summary>A read-only view of a dense tensor in host memory (memory-mapped file or native buffer).</summary>
/// <remarks>The view does not own its memory: whoever produced it (a safetensors file, a converter)
/// keeps it alive. Shapes are row-major; a weight matrix is [outFeatures, inFeatures].</remarks>
public readonly struct HostTensor
{
    /// <summary>Creates a view.</summary>
    public HostTensor(string name, DType dtype, int[] shape, nint pointer, long byteLength)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        Pointer = pointer;
        ByteLength = byteLength;
    }

    /// <summary>The tensor's name in its checkpoint.</summary>
    public string Name { get; }
    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>Row-major shape.</summary>
    public int[] Shape { get; }
    /// <summary>First byte.</summary>
    public nint Pointer { get; }
    /// <summary>Bytes the tensor occupies.</summary>
    public long ByteLength { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Rows of a 2-D tensor (1 for a vector).</summary>
    public int Rows => Shape.Length == 1 ? 1 : Shape[0];

    /// <summary>Columns of a 2-D tensor (the length of a vector).</summary>
    public int Cols => Shape[^1];

    /// <summary>Human-readable shape, e.g. "[512, 64]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
