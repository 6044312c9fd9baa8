using System.Runtime.Intrinsics;
using SpecCore.Tensors;

namespace SpecCore.Kernels.Cpu;

/// <summary>Vectorised widening of 16-bit float formats to F32.</summary>
public static unsafe class WideningKernels
{
    /// <summary>destination[i] = bf16(source[i]) as float: a 16-bit left shift of the bit pattern.</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short");
        int n = source.Length;
        int i = 0;
        fixed (ushort* s = source)
        fixed (float* d = destination)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                for (; i + 16 <= n; i += 16)
                {
                    Vector512<uint> wide = Vector512.WidenLower(Vector256.Load(s + i).ToVector512Unsafe());
                    Vector512.Store(Vector512.ShiftLeft(wide, 16).AsSingle(), d + i);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= n; i += 8)
                {
                    Vector256<uint> wide = Vector256.WidenLower(Vector128.Load(s + i).ToVector256Unsafe());
                    Vector256.Store(Vector256.ShiftLeft(wide, 16).AsSingle(), d + i);
                }
            }
            for (; i < n; i++) d[i] = FloatConversion.BF16ToFloat(s[i]);
        }
    }
}
