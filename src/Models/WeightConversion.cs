using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Converts weights between dtypes at load time (for <c>--dtype</c>, and to widen norm
/// vectors to F32). The converted copies live in native buffers owned by the caller.</summary>
public static unsafe class WeightConversion
{
    /// <summary>Returns <paramref name="source"/> as <paramref name="target"/>; when a conversion is needed
    /// the new memory is added to <paramref name="owned"/>. A q8_0 target for rows that are not a multiple of
    /// 32 long returns the source unchanged.</summary>
    public static HostTensor Convert(HostTensor source, DType target, List<IDisposable> owned)
    {
        if (source.DType == target) return source;
        long n = source.ElementCount;
        // A matrix whose rows are not whole Q8_0 blocks (e.g. stories260K's FFN of 172) keeps its stored dtype,
        // as llama.cpp does for such tensors; every kernel takes any weight dtype.
        if (target == DType.Q8_0 && source.Cols % DTypeInfo.Q8BlockSize != 0) return source;
        var buffer = new NativeBuffer(target.ByteSize(n));
        owned.Add(buffer);
        // Widen through F32 one row at a time to keep the temporary small.
        int cols = source.Cols;
        var row = new float[cols];
        for (long r = 0; r < n / cols; r++)
        {
            ReadRowAsF32(source, r, row);
            WriteRow(row, target, buffer.Pointer, r, cols);
        }
        return new HostTensor(source.Name, target, source.Shape, buffer.Pointer, buffer.ByteLength);
    }

    /// <summary>Reads row <paramref name="row"/> of a 2-D (or 1-D) tensor as floats.</summary>
    public static void ReadRowAsF32(HostTensor source, long row, Span<float> destination)
    {
        int cols = source.Cols;
        switch (source.DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>((float*)source.Pointer + row * cols, cols).CopyTo(destination);
                break;
            case DType.BF16:
            {
                ushort* p = (ushort*)source.Pointer + row * cols;
                for (int i = 0; i < cols; i++) destination[i] = FloatConversion.BF16ToFloat(p[i]);
                break;
            }
            case DType.F16:
            {
                ushort* p = (ushort*)source.Pointer + row * cols;
                for (int i = 0; i < cols; i++) destination[i] = FloatConversion.F16ToFloat(p[i]);
                break;
            }
            case DType.Q8_0:
                Q8Format.DequantizeRow((byte*)source.Pointer + row * DType.Q8_0.ByteSize(cols), destination.Slice(0, cols));
                break;
            default:
                throw new NotSupportedException($"reading {source.DType}");
        }
    }

    private static void WriteRow(ReadOnlySpan<float> row, DType target, nint basePointer, long r, int cols)
    {
        switch (target)
        {
            case DType.F32:
                row.CopyTo(new Span<float>((float*)basePointer + r * cols, cols));
                break;
            case DType.BF16:
            {
                ushort* p = (ushort*)basePointer + r * cols;
                for (int i = 0; i < cols; i++) p[i] = FloatConversion.FloatToBF16(row[i]);
                break;
            }
            case DType.F16:
            {
                ushort* p = (ushort*)basePointer + r * cols;
                for (int i = 0; i < cols; i++) p[i] = FloatConversion.FloatToF16(row[i]);
                break;
            }
            case DType.Q8_0:
                Q8Format.QuantizeRow(row, (byte*)basePointer + r * DType.Q8_0.ByteSize(cols));
                break;
        }
    }
}
