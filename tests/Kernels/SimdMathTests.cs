using SpecCore.Kernels.Cpu;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>The element-wise SIMD kernels against double-precision references at every length 1..130.
/// Tolerances: exp relative 5e-7 (0 below −87.33, +∞ above 88.37); softmax, SiLU·up, RMSNorm relative 2e-6; add exact.</summary>
public unsafe class SimdMathTests
{
    [Fact]
    public void ExpIsAccurateOverTheFloatRange()
    {
        var xs = new List<float>();
        for (float x = -100f; x <= 88.5f; x += 0.0173f) xs.Add(x);
        xs.AddRange(new[] { 0f, -0f, -87.33f, 88.7f, float.NegativeInfinity, -1e-30f, 1e-30f });
        while (xs.Count % 16 != 0) xs.Add(0);
        float[] a = xs.ToArray();
        fixed (float* p = a)
        {
            for (int i = 0; i < a.Length; i += 16)
            {
                var e512 = SimdMath.Exp(System.Runtime.Intrinsics.Vector512.Load(p + i));
                var lo = SimdMath.Exp(System.Runtime.Intrinsics.Vector256.Load(p + i));
                var hi = SimdMath.Exp(System.Runtime.Intrinsics.Vector256.Load(p + i + 8));
                for (int j = 0; j < 16; j++)
                {
                    float e256 = j < 8 ? lo[j] : hi[j - 8];
                    Assert.Equal(e512[j], e256); // same polynomial, same rounding
                    var e = e512;
                    double expected = Math.Exp(a[i + j]);
                    if (a[i + j] < -87.33f) Assert.Equal(0f, e[j]);
                    else if (a[i + j] > 88.37f) Assert.Equal(float.PositiveInfinity, e[j]);
                    else Assert.True(Math.Abs(e[j] - expected) <= 5e-7 * expected, $"exp({a[i + j]}) = {e[j]}, expected {expected}");
                }
            }
        }
    }

    [Fact]
    public void RowKernelsMatchReferenceAtEveryLength()
    {
        var rng = new Random(3);
        for (int n = 1; n <= 130; n++)
        {
            float[] x = RandomFloats(rng, n, 30f), y = RandomFloats(rng, n, 5f), w = RandomFloats(rng, n);
            // Stable softmax numerator and denominator.
            float[] p = (float[])x.Clone();
            float sum;
            fixed (float* pp = p) sum = SimdMath.ExpShiftedSum(pp, n);
            double max = x.Max(), refSum = x.Sum(v => Math.Exp(v - max));
            Assert.True(Math.Abs(sum - refSum) <= 2e-6 * refSum, $"n {n}: sum {sum} vs {refSum}");
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(p[i] - Math.Exp(x[i] - max)) <= 2e-6, $"n {n} i {i}");
            p = (float[])x.Clone();
            fixed (float* pp = p) sum = SimdMath.ExpShiftedSum256(pp, n);
            Assert.True(Math.Abs(sum - refSum) <= 2e-6 * refSum, $"256 n {n}: sum {sum} vs {refSum}");
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(p[i] - Math.Exp(x[i] - max)) <= 2e-6, $"256 n {n} i {i}");

            float[] g = (float[])x.Clone();
            fixed (float* gp = g) fixed (float* up = y) SimdMath.SwiGlu(gp, up, n);
            for (int i = 0; i < n; i++)
            {
                double expected = x[i] / (1 + Math.Exp(-x[i])) * y[i];
                Assert.True(Math.Abs(g[i] - expected) <= 2e-6 * Math.Abs(expected) + 1e-6, $"swiglu n {n} i {i}: {g[i]} vs {expected}");
            }

            var o = new float[n];
            fixed (float* xp = x) fixed (float* wp = w) fixed (float* op = o) SimdMath.RmsNorm(xp, wp, op, n, 1e-5f);
            double rms = Math.Sqrt(x.Sum(v => (double)v * v) / n + 1e-5);
            for (int i = 0; i < n; i++)
            {
                double expected = x[i] / rms * w[i];
                Assert.True(Math.Abs(o[i] - expected) <= 2e-6 * Math.Abs(expected) + 1e-7, $"rmsnorm n {n} i {i}");
            }

            float[] s = (float[])x.Clone();
            fixed (float* sp = s) fixed (float* yp = y) SimdMath.Add(sp, yp, n);
            for (int i = 0; i < n; i++) Assert.Equal(x[i] + y[i], s[i]);
        }
    }
}
