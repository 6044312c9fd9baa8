using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>Reads 16 (AVX-512) or 8 (AVX2) consecutive weights of one dtype as a vector of floats (and one
/// as a float), so a single generic matmul kernel serves F32, BF16 and F16 rows; the JIT specialises it
/// per struct.</summary>
internal unsafe interface IWeightLoader
{
    /// <summary>Bytes per element.</summary>
    static abstract int ElementBytes { get; }

    /// <summary>Elements [i, i + 16) of the row starting at <paramref name="row"/>, widened to F32.</summary>
    static abstract Vector512<float> Load16(byte* row, nint i);

    /// <summary>Elements [i, i + 8) of the row starting at <paramref name="row"/>, widened to F32 (AVX2).</summary>
    static abstract Vector256<float> Load8(byte* row, nint i);

    /// <summary>Element i of the row, widened to F32.</summary>
    static abstract float Load1(byte* row, nint i);
}

internal readonly unsafe struct F32Loader : IWeightLoader
{
    public static int ElementBytes => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint i) => Vector512.Load((float*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint i) => Vector256.Load((float*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => ((float*)row)[i];
}

internal readonly unsafe struct BF16Loader : IWeightLoader
{
    public static int ElementBytes => 2;

    // bf16 is the upper half of an f32: zero-extend (vpmovzxwd) and shift left by 16.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint i) =>
        Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + i)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint i) =>
        Vector256.ShiftLeft(Avx2.ConvertToVector256Int32((ushort*)row + i), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => FloatConversion.BF16ToFloat(((ushort*)row)[i]);
}

internal readonly unsafe struct F16Loader : IWeightLoader
{
    public static int ElementBytes => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint i) =>
        SimdHalf.ToSingle(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + i)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint i) =>
        SimdHalf.ToSingle(Avx2.ConvertToVector256Int32((ushort*)row + i).AsUInt32());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => FloatConversion.F16ToFloat(((ushort*)row)[i]);
}

/// <summary>F16 weight matrices. Weights are finite by contract (the model loader refuses a checkpoint with a non-finite
/// weight and an F16 conversion past ±65504, see WeightConversion), so widening skips the infinity/NaN fix-up that the
/// KV cache's <see cref="F16Loader"/> keeps: 4 instructions per 16 weights instead of 10, which is what an F16 decode
/// step, bound by widening rather than by bytes, is made of.</summary>
internal readonly unsafe struct F16WeightLoader : IWeightLoader
{
    public static int ElementBytes => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint i) =>
        SimdHalf.FiniteToSingle(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)row + i)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* row, nint i) =>
        SimdHalf.FiniteToSingle(Avx2.ConvertToVector256Int32((short*)row + i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint i) => FloatConversion.F16ToFloat(((ushort*)row)[i]);
}

/// <summary>IEEE half → float on integer lanes (.NET exposes no vcvtph2ps intrinsic).</summary>
internal static class SimdHalf
{
    /// <summary>Widens 16 half bit patterns (zero-extended to 32 bits) to floats, exactly, including
    /// subnormals, infinities and NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        // Exponent and mantissa moved to float position; multiplying by 2^112 rebiases the exponent
        // (15 → 127) and normalises subnormals in one step. Infinity/NaN (exponent 31) get exponent 255.
        Vector512<uint> magnitude = Vector512.ShiftLeft(h & Vector512.Create(0x7FFFu), 13);
        Vector512<float> value = magnitude.AsSingle() * Vector512.Create(5.192296858534828e33f);
        Vector512<uint> infNan = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x0F800000u));
        Vector512<uint> bits = Vector512.ConditionalSelect(infNan, magnitude | Vector512.Create(0x7F800000u), value.AsUInt32());
        return (bits | Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>Widens 16 finite half bit patterns, sign-extended to 32 bits (vpmovsxwd), to floats exactly, subnormals
    /// included; an infinity or NaN comes out as a finite value of magnitude 2^16 or more.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FiniteToSingle(Vector512<int> h)
    {
        // Sign extension put the sign in bit 31 (and copies of it in bits 30..28 after the shift, cleared here), so one
        // shift and one mask place sign, exponent and mantissa; 2^112 rebiases the exponent and normalises subnormals.
        Vector512<int> bits = Vector512.ShiftLeft(h, 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector512.Create(5.192296858534828e33f);
    }

    /// <summary>The same for 8 finite half bit patterns (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FiniteToSingle(Vector256<int> h)
    {
        Vector256<int> bits = Vector256.ShiftLeft(h, 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return bits.AsSingle() * Vector256.Create(5.192296858534828e33f);
    }

    /// <summary>The same for 8 half bit patterns (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        Vector256<uint> magnitude = Vector256.ShiftLeft(h & Vector256.Create(0x7FFFu), 13);
        Vector256<float> value = magnitude.AsSingle() * Vector256.Create(5.192296858534828e33f);
        // Signed compare (AVX2 has no unsigned one); magnitudes are below 2^28.
        Vector256<uint> infNan = Vector256.GreaterThanOrEqual(magnitude.AsInt32(), Vector256.Create(0x0F800000)).AsUInt32();
        Vector256<uint> bits = Vector256.ConditionalSelect(infNan, magnitude | Vector256.Create(0x7F800000u), value.AsUInt32());
        return (bits | Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    /// <summary>Widens one half bit pattern to float (finite values exact; used for Q8_0 scales).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort h)
    {
        float value = BitConverter.Int32BitsToSingle((h & 0x7FFF) << 13) * 5.192296858534828e33f;
        return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(value) | ((h & 0x8000) << 16));
    }
}
