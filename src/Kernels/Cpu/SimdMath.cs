using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpecCore.Kernels.Cpu;

/// <summary>Vector512 element-wise math for the per-token kernels (softmax, SiLU, RMSNorm), compiled
/// fully optimised on first use so that short runs do not execute unoptimised library code.</summary>
internal static unsafe class SimdMath
{
    /// <summary>e^x per lane, relative error ≲ 2e-7 (Cephes expf: n = round(x / ln 2), degree-6
    /// polynomial on the remainder); below −87.33 gives 0 and above 88.37 gives +∞ (the true values there
    /// are within a factor 1.5 of the float limits; softmax and sigmoid never need them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        Vector512<float> clamped = Vector512.Min(Vector512.Max(x, Vector512.Create(-87.33f)), Vector512.Create(88.37f));
        Vector512<float> n = Vector512.Round(clamped * Vector512.Create(1.44269504088896341f));
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), clamped);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        Vector512<float> p = Vector512.Create(1.9875691500e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        Vector512<int> exponent = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23);
        Vector512<float> result = p * exponent.AsSingle();
        result = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(88.37f)), Vector512.Create(float.PositiveInfinity), result);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87.33f)), Vector512<float>.Zero, result);
    }

    /// <summary>p[i] = e^(p[i] − max(p)); returns Σ p[i] (the stable softmax numerator and denominator).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpShiftedSum(float* p, int n)
    {
        if (n < 16)
        {
            float m = float.NegativeInfinity;
            for (int i = 0; i < n; i++) m = MathF.Max(m, p[i]);
            float s = 0;
            for (int i = 0; i < n; i++) s += p[i] = MathF.Exp(p[i] - m);
            return s;
        }
        Vector512<float> max = Vector512.Load(p);
        int j = 16;
        for (; j + 16 <= n; j += 16) max = Vector512.Max(max, Vector512.Load(p + j));
        max = Vector512.Max(max, Vector512.Load(p + n - 16));
        Vector512<float> mv = Vector512.Create(HorizontalMax(max));
        Vector512<float> sum = default;
        int k = 0;
        for (; k + 16 <= n; k += 16)
        {
            Vector512<float> e = Exp(Vector512.Load(p + k) - mv);
            e.Store(p + k);
            sum += e;
        }
        if (k < n)
        {
            // Overlapping last vector: lanes before k are already exponentiated; recompute only the rest.
            Vector512<float> tail = Vector512.Load(p + n - 16);
            Vector512<float> fresh = Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(16 - (n - k))).AsSingle();
            Vector512<float> e = Exp(tail - mv);
            Vector512.ConditionalSelect(fresh, e, tail).Store(p + n - 16);
            sum += e & fresh;
        }
        return Vector512.Sum(sum);
    }

    /// <summary>The Vector256 version of <see cref="Exp(Vector512{float})"/> (AVX2 machines), same polynomial.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33f)), Vector256.Create(88.37f));
        Vector256<float> n = Vector256.Round(clamped * Vector256.Create(1.44269504088896341f));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        Vector256<int> exponent = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23);
        Vector256<float> result = p * exponent.AsSingle();
        result = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(88.37f)), Vector256.Create(float.PositiveInfinity), result);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-87.33f)), Vector256<float>.Zero, result);
    }

    /// <summary>The Vector256 version of <see cref="ExpShiftedSum"/>: one pass for the maximum, one for e^(p − max)
    /// and its sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpShiftedSum256(float* p, int n)
    {
        if (n < 8)
        {
            float m = float.NegativeInfinity;
            for (int i = 0; i < n; i++) m = MathF.Max(m, p[i]);
            float s = 0;
            for (int i = 0; i < n; i++) s += p[i] = MathF.Exp(p[i] - m);
            return s;
        }
        Vector256<float> max = Vector256.Load(p);
        int j = 8;
        for (; j + 8 <= n; j += 8) max = Vector256.Max(max, Vector256.Load(p + j));
        max = Vector256.Max(max, Vector256.Load(p + n - 8));
        Vector128<float> h = Vector128.Max(max.GetLower(), max.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        Vector256<float> mv = Vector256.Create(h.ToScalar());
        Vector256<float> sum = default;
        int k = 0;
        for (; k + 8 <= n; k += 8)
        {
            Vector256<float> e = Exp(Vector256.Load(p + k) - mv);
            e.Store(p + k);
            sum += e;
        }
        if (k < n)
        {
            // Overlapping last vector: lanes before k are already exponentiated; recompute only the rest.
            Vector256<float> tail = Vector256.Load(p + n - 8);
            Vector256<float> fresh = Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(8 - (n - k))).AsSingle();
            Vector256<float> e = Exp(tail - mv);
            Vector256.ConditionalSelect(fresh, e, tail).Store(p + n - 8);
            sum += e & fresh;
        }
        return Vector256.Sum(sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector512<float> v)
    {
        Vector256<float> a = Vector256.Max(v.GetLower(), v.GetUpper());
        Vector128<float> b = Vector128.Max(a.GetLower(), a.GetUpper());
        b = Vector128.Max(b, Vector128.Shuffle(b, Vector128.Create(2, 3, 0, 1)));
        b = Vector128.Max(b, Vector128.Shuffle(b, Vector128.Create(1, 0, 3, 2)));
        return b.ToScalar();
    }

    /// <summary>g[i] = silu(g[i]) · u[i] = g[i] / (1 + e^−g[i]) · u[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGlu(float* g, float* u, int n)
    {
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            Vector512<float> x = Vector512.Load(g + i);
            (x / (Vector512<float>.One + Exp(-x)) * Vector512.Load(u + i)).Store(g + i);
        }
        for (; i < n; i++) g[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
    }

    /// <summary>o = x / rms(x) · w over n values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(float* x, float* w, float* o, int n, float eps)
    {
        Vector512<float> acc = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            Vector512<float> v = Vector512.Load(x + i);
            acc = Vector512.FusedMultiplyAdd(v, v, acc);
        }
        float sum = Vector512.Sum(acc);
        for (; i < n; i++) sum += x[i] * x[i];
        float scale = 1f / MathF.Sqrt(sum / n + eps);
        Vector512<float> s = Vector512.Create(scale);
        for (i = 0; i + 16 <= n; i += 16) (Vector512.Load(x + i) * s * Vector512.Load(w + i)).Store(o + i);
        for (; i < n; i++) o[i] = x[i] * scale * w[i];
    }

    /// <summary>x[i] += y[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(float* x, float* y, long n)
    {
        long i = 0;
        for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) + Vector512.Load(y + i)).Store(x + i);
        for (; i < n; i++) x[i] += y[i];
    }
}
