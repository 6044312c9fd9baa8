using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>Random tensors and straightforward references for the kernel tests.</summary>
internal static unsafe class KernelTestUtil
{
    public static float[] RandomFloats(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>A [rows, cols] weight of <paramref name="dtype"/> made from <paramref name="values"/>; returns the tensor
    /// and the values it actually holds, widened back to F32 (Q8_0, Q4_0: the dequantized values).</summary>
    public static (CpuTensor Tensor, float[] Stored) Weight(DType dtype, float[] values, int rows, int cols)
    {
        var buffer = new NativeBuffer(dtype.ByteSize((long)rows * cols));
        var stored = new float[values.Length];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> src = values.AsSpan(r * cols, cols);
            Span<float> back = stored.AsSpan(r * cols, cols);
            switch (dtype)
            {
                case DType.F32:
                    src.CopyTo(new Span<float>((float*)buffer.Pointer + (long)r * cols, cols));
                    src.CopyTo(back);
                    break;
                case DType.BF16:
                case DType.F16:
                {
                    ushort* p = (ushort*)buffer.Pointer + (long)r * cols;
                    for (int i = 0; i < cols; i++)
                    {
                        p[i] = dtype == DType.BF16 ? FloatConversion.FloatToBF16(src[i]) : FloatConversion.FloatToF16(src[i]);
                        back[i] = dtype == DType.BF16 ? FloatConversion.BF16ToFloat(p[i]) : FloatConversion.F16ToFloat(p[i]);
                    }
                    break;
                }
                case DType.Q8_0:
                {
                    byte* p = (byte*)buffer.Pointer + r * DType.Q8_0.ByteSize(cols);
                    Q8Format.QuantizeRow(src, p);
                    Q8Format.DequantizeRow(p, back);
                    break;
                }
                case DType.Q4_0:
                {
                    byte* p = (byte*)buffer.Pointer + r * DType.Q4_0.ByteSize(cols);
                    Q4Format.QuantizeRow(src, p);
                    Q4Format.DequantizeRow(p, back);
                    break;
                }
            }
        }
        return (new CpuTensor(dtype, new[] { rows, cols }, buffer), stored);
    }

    public static CpuTensor Activations(float[] values, int rows, int cols)
    {
        var buffer = new NativeBuffer((long)rows * cols * 4);
        values.AsSpan(0, rows * cols).CopyTo(new Span<float>((void*)buffer.Pointer, rows * cols));
        return new CpuTensor(DType.F32, new[] { rows, cols }, buffer);
    }

    /// <summary>The reference activation quantization: per 32 values d = max|x| / 127, q = round-half-even(x / d).</summary>
    public static (sbyte[] Q, float[] D) QuantizeActivations(ReadOnlySpan<float> x)
    {
        var q = new sbyte[x.Length];
        var d = new float[x.Length / 32];
        for (int b = 0; b < d.Length; b++)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(x[b * 32 + i]));
            d[b] = amax / 127f;
            float inv = d[b] == 0 ? 0 : 1f / d[b];
            for (int i = 0; i < 32; i++) q[b * 32 + i] = (sbyte)Math.Clamp((int)Math.Round(x[b * 32 + i] * inv, MidpointRounding.ToEven), -127, 127);
        }
        return (q, d);
    }
}
