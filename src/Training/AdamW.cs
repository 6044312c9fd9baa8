using System.Numerics;

namespace SpecCore.Training;

/// <summary>AdamW (decoupled weight decay) with gradient clipping by global norm; keeps its moments in F32.</summary>
internal sealed class AdamW
{
    private readonly float[][] _m, _v;

    public AdamW(IReadOnlyList<int> lengths, double beta1 = 0.9, double beta2 = 0.95, double epsilon = 1e-8, double weightDecay = 0.0)
    {
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        _m = new float[lengths.Count][];
        _v = new float[lengths.Count][];
        for (int i = 0; i < lengths.Count; i++) { _m[i] = new float[lengths[i]]; _v[i] = new float[lengths[i]]; }
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>Updates taken so far.</summary>
    public long Steps { get; set; }

    /// <summary>First moments, one array per parameter.</summary>
    public float[][] FirstMoments => _m;

    /// <summary>Second moments, one array per parameter.</summary>
    public float[][] SecondMoments => _v;

    /// <summary>The L2 norm of all gradients together.</summary>
    public static double GlobalNorm<T>(ParameterSet<T> set) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (var p in set.All)
            foreach (T g in p.Gradient)
            {
                double d = double.CreateChecked(g);
                sum += d * d;
            }
        return Math.Sqrt(sum);
    }

    /// <summary>One update at learning rate <paramref name="lr"/>: scales the gradients to global norm
    /// <paramref name="clip"/> when they exceed it (0: no clipping), then applies AdamW. Returns the norm before clipping.</summary>
    public double Step<T>(ParameterSet<T> set, double lr, double clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = GlobalNorm(set);
        double scale = clip > 0 && norm > clip ? clip / norm : 1.0;
        Steps++;
        double c1 = 1 - Math.Pow(Beta1, Steps), c2 = 1 - Math.Pow(Beta2, Steps);
        for (int i = 0; i < set.All.Count; i++)
        {
            var p = set.All[i];
            float[] m = _m[i], v = _v[i];
            double decay = p.Decays ? lr * WeightDecay : 0;
            for (int x = 0; x < p.Value.Length; x++)
            {
                double g = double.CreateChecked(p.Gradient[x]) * scale;
                m[x] = (float)(Beta1 * m[x] + (1 - Beta1) * g);
                v[x] = (float)(Beta2 * v[x] + (1 - Beta2) * g * g);
                double w = double.CreateChecked(p.Value[x]);
                w -= decay * w + lr * (m[x] / c1) / (Math.Sqrt(v[x] / c2) + Epsilon);
                p.Value[x] = T.CreateChecked(w);
            }
        }
        return norm;
    }
}
