namespace SpecCore.Tensors;

/// <summary>The Q4_0 block format (as GGUF): each block of 32 values is one F16 scale d followed by 16 bytes of
/// 4-bit quants; byte j holds value j in its low nibble and value j + 16 in its high nibble, and x ≈ d · (nibble − 8).
/// A row of n values is n / 32 consecutive 18-byte blocks.</summary>
public static unsafe class Q4Format
{
    /// <summary>Bytes per block: 2 (F16 scale) + 16 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + DTypeInfo.Q8BlockSize / 2;

    /// <summary>Quantizes a row (length a multiple of 32) into <paramref name="destination"/> exactly as llama.cpp's
    /// reference quantizer does: d = m / −8 for the value m of largest magnitude, nibble = min(15, trunc(x / d + 8.5)).</summary>
    public static void QuantizeRow(ReadOnlySpan<float> row, byte* destination)
    {
        const int B = DTypeInfo.Q8BlockSize;
        if (row.Length % B != 0) throw new ArgumentException($"q4_0 rows must be a multiple of {B} long, got {row.Length}");
        for (int b = 0; b < row.Length / B; b++)
        {
            ReadOnlySpan<float> x = row.Slice(b * B, B);
            float amax = 0, max = 0;
            foreach (float v in x)
            {
                if (amax < MathF.Abs(v))
                {
                    amax = MathF.Abs(v);
                    max = v;
                }
            }
            // The extreme value maps to nibble 0 (−8 · d), so the grid's one extra negative step is not wasted.
            float d = max / -8f;
            float inv = d == 0 ? 0 : 1f / d;
            byte* block = destination + b * BlockBytes;
            *(ushort*)block = FloatConversion.FloatToF16(d);
            for (int j = 0; j < B / 2; j++)
            {
                int lo = Math.Min(15, (int)(x[j] * inv + 8.5f));
                int hi = Math.Min(15, (int)(x[j + B / 2] * inv + 8.5f));
                block[2 + j] = (byte)(lo | (hi << 4));
            }
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
            for (int j = 0; j < B / 2; j++)
            {
                destination[b * B + j] = d * ((block[2 + j] & 0x0F) - 8);
                destination[b * B + j + B / 2] = d * ((block[2 + j] >> 4) - 8);
            }
        }
    }
}
