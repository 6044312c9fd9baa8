using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Converts weights between dtypes at load time (for <c>--dtype</c>, and to widen norm
/// vectors to F32). The converted copies live in native buffers owned by the caller.</summary>
public static unsafe class WeightConversion
{
    /// <summary>Returns <paramref name="source"/> as <paramref name="target"/>; when a conversion is needed
    /// the new memory is added to <paramref name="owned"/>. A q8_0 or q4_0 target for rows that are not a multiple
    /// of 32 long returns the source unchanged.</summary>
    public static HostTensor Convert(HostTensor source, DType target, List<IDisposable> owned)
    {
        if (source.DType == target) return source;
        long n = source.ElementCount;
        // A matrix whose rows are not whole Q8_0 blocks (e.g. stories260K's FFN of 172) keeps its stored dtype,
        // as llama.cpp does for such tensors; every kernel takes any weight dtype.
        if (target is DType.Q8_0 or DType.Q4_0 && source.Cols % DTypeInfo.Q8BlockSize != 0) return source;
        if (target == DType.F16 && source.DType is DType.F32 or DType.BF16) CheckF16Range(source);
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

    /// <summary>Refuses a tensor holding a NaN or an infinity (and, when <paramref name="refuseAllZero"/>, one whose
    /// elements are all zero), naming the tensor and the first bad element: a damaged checkpoint would otherwise
    /// produce garbage text. One vectorised pass over the raw bits, at load time only.</summary>
    /// <exception cref="InvalidDataException">The tensor is not finite or is all zeros.</exception>
    public static void CheckFinite(HostTensor tensor, string source, bool refuseAllZero)
    {
        long n = tensor.ElementCount;
        if (n == 0) return;
        long bad;
        bool anyNonZero;
        switch (tensor.DType)
        {
            case DType.F32:
                (bad, anyNonZero) = Scan(new ReadOnlySpan<uint>((void*)tensor.Pointer, checked((int)Math.Min(n, int.MaxValue))), 0x7F800000u, 0x7FFFFFFFu, n);
                break;
            case DType.BF16:
                (bad, anyNonZero) = Scan(new ReadOnlySpan<ushort>((void*)tensor.Pointer, checked((int)Math.Min(n, int.MaxValue))), (ushort)0x7F80, (ushort)0x7FFF, n);
                break;
            case DType.F16:
                (bad, anyNonZero) = Scan(new ReadOnlySpan<ushort>((void*)tensor.Pointer, checked((int)Math.Min(n, int.MaxValue))), (ushort)0x7C00, (ushort)0x7FFF, n);
                break;
            default:
                return;
        }
        if (bad >= 0)
        {
            float[] row = new float[tensor.Cols];
            ReadRowAsF32(tensor, bad / tensor.Cols, row);
            float value = row[(int)(bad % tensor.Cols)];
            throw new InvalidDataException($"{source}: tensor '{tensor.Name}' holds {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} at element {bad}; weights must be finite (the checkpoint is damaged)");
        }
        if (refuseAllZero && !anyNonZero)
            throw new InvalidDataException($"{source}: tensor '{tensor.Name}' is all zeros (the checkpoint is damaged)");
    }

    /// <summary>First element whose exponent bits are all set (NaN or infinity), or -1; and whether any element is non-zero.
    /// Tensors past 2^31 elements are scanned in chunks.</summary>
    private static (long Bad, bool AnyNonZero) Scan<T>(ReadOnlySpan<T> first, T exponent, T magnitude, long total)
        where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        bool anyNonZero = false;
        long offset = 0;
        ref T start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(first);
        while (offset < total)
        {
            int count = (int)Math.Min(total - offset, 1 << 30);
            var span = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref System.Runtime.CompilerServices.Unsafe.Add(ref start, (nint)offset), count);
            var e = new System.Numerics.Vector<T>(exponent);
            var m = new System.Numerics.Vector<T>(magnitude);
            int i = 0;
            int width = System.Numerics.Vector<T>.Count;
            var nonZero = System.Numerics.Vector<T>.Zero;
            for (; i + width <= count; i += width)
            {
                var v = new System.Numerics.Vector<T>(span.Slice(i, width));
                nonZero |= v & m;
                if (System.Numerics.Vector.EqualsAny(v & e, e)) break;
            }
            if (nonZero != System.Numerics.Vector<T>.Zero) anyNonZero = true;
            for (; i < count; i++)
            {
                if ((span[i] & magnitude) != T.Zero) anyNonZero = true;
                if ((span[i] & exponent) == exponent) return (offset + i, anyNonZero);
            }
            offset += count;
        }
        return (-1, anyNonZero);
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
            case DType.Q4_0:
                Q4Format.DequantizeRow((byte*)source.Pointer + row * DType.Q4_0.ByteSize(cols), destination.Slice(0, cols));
                break;
            default:
                throw new NotSupportedException($"reading {source.DType}");
        }
    }

    /// <summary>Refuses a tensor with a value that F16 cannot hold (beyond ±65504, which would become infinity).</summary>
    private static void CheckF16Range(HostTensor source)
    {
        int cols = source.Cols;
        var row = new float[cols];
        for (long r = 0; r < source.ElementCount / cols; r++)
        {
            ReadRowAsF32(source, r, row);
            float max = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row);
            if (Math.Abs(max) > 65504f)
                throw new InvalidDataException($"tensor '{source.Name}' holds {max.ToString(System.Globalization.CultureInfo.InvariantCulture)} (row {r}), beyond the F16 range of ±65504: --dtype f16 would turn it into infinity; use bf16 or f32");
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
            case DType.Q4_0:
                Q4Format.QuantizeRow(row, (byte*)basePointer + r * DType.Q4_0.ByteSize(cols));
                break;
        }
    }
}
