namespace SpecCore.Tensors;

/// <summary>The Q8_0 block format (as GGUF): each block of 32 values is one F16 scale d = max|x| / 127
/// followed by 32 int8 quants q = round(x / d); x ≈ d · q. A row of n values is n / 32 consecutive
/// 34-byte blocks.</summary>
public static unsafe class Q8Format
{
    /// <summary>Bytes per block: 2 (F16 scale) + 32 quants.</summary>
    public const int BlockBytes = 2 + DTypeInfo.Q8BlockSize;

    /// <summary>Quantizes a row (length a multiple of 32) into <paramref name="destination"/>.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, byte* destination)
    {
        const int B = DTypeInfo.Q8BlockSize;
        if (row.Length % B != 0) throw new ArgumentException($"q8_0 rows must be a multiple of {B} long, got {row.Length}");
        for (int b = 0; b < row.Length / B; b++)
        {
            ReadOnlySpan<float> x = row.Slice(b * B, B);
            float amax = 0;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            ushort dBits = FloatConversion.FloatToF16(d);
            byte* block = destination + b * BlockBytes;
            *(ushort*)block = dBits;
            float inv = d == 0 ? 0 : 1f / d;
            sbyte* q = (sbyte*)(block + 2);
            for (int i = 0; i < B; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(x[i] * inv, MidpointRounding.AwayFromZero), -127, 127);
        }
    }

    /// <summary>Expands a quantized row back to floats (<paramref name="destination"/>.Length values).</summary>
    public static void DequantizeRow(byte* source, Span<float> destination)
    {
        const int B = DTypeInfo.Q8BlockSize;
        for (int b = 0; b < destination.Length / B; b++)
        {
            byte* block = source + b * BlockBytes;
            float d = FloatConversion.F16ToFloat(*(ushort*)block);
            sbyte* q = (sbyte*)(block + 2);
            for (int i = 0; i < B; i++) destination[b * B + i] = d * q[i];
        }
    }
}
