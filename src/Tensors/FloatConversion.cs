using System.Runtime.CompilerServices;

namespace SpecCore.Tensors;

/// <summary>Scalar conversions between F32 and the 16-bit float formats.</summary>
public static class FloatConversion
{
    /// <summary>Widens a bfloat16 bit pattern to float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds a float to bfloat16 (round to nearest even; NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Widens an IEEE half bit pattern to float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Rounds a float to IEEE half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);
}
