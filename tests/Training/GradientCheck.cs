using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>Compares analytic gradients with central finite differences.</summary>
internal static class GradientCheck
{
    /// <summary>Asserts that every entry of every parameter's gradient (already computed) is within relative error
    /// 1e-3 of (L(w+ε) − L(w−ε)) / 2ε, ε = 1e-5, where the error is measured against max(|a|, |n|, 1e-6).</summary>
    public static void AssertMatches(ParameterSet<double> set, Func<double> loss, double bound = 1e-3)
    {
        const double eps = 1e-5;
        int checkedEntries = 0;
        foreach (var p in set.All)
        {
            double worst = 0;
            for (int i = 0; i < p.Value.Length; i++)
            {
                double saved = p.Value[i];
                p.Value[i] = saved + eps;
                double plus = loss();
                p.Value[i] = saved - eps;
                double minus = loss();
                p.Value[i] = saved;
                double numeric = (plus - minus) / (2 * eps);
                double analytic = p.Gradient[i];
                double error = Math.Abs(numeric - analytic) / Math.Max(Math.Max(Math.Abs(numeric), Math.Abs(analytic)), 1e-6);
                worst = Math.Max(worst, error);
                checkedEntries++;
                Assert.True(error <= bound, $"{p.Name}[{i}]: analytic {analytic:G6}, numeric {numeric:G6}, relative error {error:G3}");
            }
            // Every tensor must take part in the loss, or its check proves nothing.
            Assert.True(p.Gradient.Any(g => Math.Abs(g) > 1e-9), $"{p.Name} has an all-zero gradient");
        }
        Assert.True(checkedEntries > 0);
    }
}
