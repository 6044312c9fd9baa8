using SpecCore.Models;
using SpecCore.Models.Families;

namespace SpecCore.Tests.Models;

/// <summary>A straightforward float64 forward pass written from the Hugging Face modelling definitions
/// (Llama, Mistral, Qwen2, Qwen3), with every family option: q/k/v/o and MLP biases, per-head q/k RMSNorm
/// before RoPE, rotate-half RoPE, grouped-query attention and the sliding-window mask (i − j &lt; W).
/// Slow on purpose; F32 weights only.</summary>
internal static unsafe class ScalarReferenceForward
{
    /// <summary>Logits [tokens.Length][vocab] of a causal prompt.</summary>
    public static double[][] Logits(ModelConfig c, IWeightSource w, int[] tokens) => Logits(c, w, tokens, null, null);

    /// <summary>Logits like <see cref="Logits(ModelConfig, IWeightSource, int[])"/>; also fills
    /// <paramref name="layerInputs"/>[l][t] ([layers + 1][tokens][dim]: the residual stream entering layer l, l = layers
    /// after the last) and <paramref name="finalHidden"/>[t] (the post-norm hidden state) when given.</summary>
    public static double[][] Logits(ModelConfig c, IWeightSource w, int[] tokens, double[][][]? layerInputs, double[][]? finalHidden)
    {
        int n = tokens.Length, dim = c.HiddenSize, hd = c.HeadDim;
        double[] Vec(string name, int len)
        {
            var t = w.Get(name, len);
            var r = new double[len];
            for (int i = 0; i < len; i++) r[i] = ((float*)t.Pointer)[i];
            return r;
        }
        double[,] Mat(WeightSpec s)
        {
            var t = w.Get(s.Name, s.Rows, s.Cols);
            var r = new double[s.Rows, s.Cols];
            for (int i = 0; i < s.Rows; i++)
                for (int j = 0; j < s.Cols; j++) r[i, j] = ((float*)t.Pointer)[(long)i * s.Cols + j];
            return r;
        }
        double[] Linear(double[,] m, double[] x, double[]? bias)
        {
            var y = new double[m.GetLength(0)];
            for (int i = 0; i < y.Length; i++)
            {
                double s = bias?[i] ?? 0;
                for (int j = 0; j < x.Length; j++) s += m[i, j] * x[j];
                y[i] = s;
            }
            return y;
        }
        double[] Norm(double[] x, int offset, int len, double[] weight)
        {
            double ss = 0;
            for (int i = 0; i < len; i++) ss += x[offset + i] * x[offset + i];
            double scale = 1 / Math.Sqrt(ss / len + c.RmsNormEps);
            var y = new double[len];
            for (int i = 0; i < len; i++) y[i] = x[offset + i] * scale * weight[i];
            return y;
        }
        double[]? Bias(WeightSpec? s) => s is { } b ? Vec(b.Name, b.Rows) : null;
        double[] inv = c.RopeInverseFrequencies();
        void Rope(double[] v, int heads, int pos)
        {
            int half = hd / 2;
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < half; j++)
                {
                    double angle = pos * (double)(float)inv[j];
                    double cos = Math.Cos(angle), sin = Math.Sin(angle);
                    double a = v[h * hd + j], b = v[h * hd + j + half];
                    v[h * hd + j] = a * cos - b * sin;
                    v[h * hd + j + half] = b * cos + a * sin;
                }
        }

        var embed = Mat(WeightMap.Embedding(c));
        var x = new double[n][];
        for (int t = 0; t < n; t++)
        {
            x[t] = new double[dim];
            for (int i = 0; i < dim; i++) x[t][i] = embed[tokens[t], i];
        }
        for (int l = 0; l < c.Layers; l++)
        {
            if (layerInputs != null) layerInputs[l] = x.Select(r => (double[])r.Clone()).ToArray();
            LayerWeightSpecs s = WeightMap.Layer(c, l);
            double[] attnNorm = Vec(s.AttentionNorm.Name, dim), mlpNorm = Vec(s.MlpNorm.Name, dim);
            var (wq, wk, wv, wo) = (Mat(s.Wq), Mat(s.Wk), Mat(s.Wv), Mat(s.Wo));
            double[]? qNorm = s.QNorm is { } qn ? Vec(qn.Name, hd) : null, kNorm = s.KNorm is { } kn ? Vec(kn.Name, hd) : null;
            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (int t = 0; t < n; t++)
            {
                double[] h = Norm(x[t], 0, dim, attnNorm);
                q[t] = Linear(wq, h, Bias(s.Bq));
                k[t] = Linear(wk, h, Bias(s.Bk));
                v[t] = Linear(wv, h, Bias(s.Bv));
                if (qNorm != null)
                {
                    for (int hh = 0; hh < c.Heads; hh++) Norm(q[t], hh * hd, hd, qNorm).CopyTo(q[t], hh * hd);
                    for (int hh = 0; hh < c.KvHeads; hh++) Norm(k[t], hh * hd, hd, kNorm!).CopyTo(k[t], hh * hd);
                }
                Rope(q[t], c.Heads, t);
                Rope(k[t], c.KvHeads, t);
            }
            int window = c.WindowOf(l);
            for (int t = 0; t < n; t++)
            {
                var attended = new double[c.QueryDim];
                for (int hh = 0; hh < c.Heads; hh++)
                {
                    int kh = hh / (c.Heads / c.KvHeads);
                    var scores = new List<(int J, double S)>();
                    for (int j = 0; j <= t; j++)
                    {
                        if (window > 0 && t - j >= window) continue;
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += q[t][hh * hd + d] * k[j][kh * hd + d];
                        scores.Add((j, dot / Math.Sqrt(hd)));
                    }
                    double max = scores.Max(e => e.S);
                    double sum = scores.Sum(e => Math.Exp(e.S - max));
                    foreach (var (j, sc) in scores)
                        for (int d = 0; d < hd; d++) attended[hh * hd + d] += Math.Exp(sc - max) / sum * v[j][kh * hd + d];
                }
                double[] o = Linear(wo, attended, Bias(s.Bo));
                for (int i = 0; i < dim; i++) x[t][i] += o[i];

                double[] m = Norm(x[t], 0, dim, mlpNorm);
                double[] gate = Linear(Mat(s.WGate), m, Bias(s.BGate)), up = Linear(Mat(s.WUp), m, Bias(s.BUp));
                for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                double[] down = Linear(Mat(s.WDown), gate, Bias(s.BDown));
                for (int i = 0; i < dim; i++) x[t][i] += down[i];
            }
        }
        if (layerInputs != null) layerInputs[c.Layers] = x.Select(r => (double[])r.Clone()).ToArray();
        var head = Mat(c.TieWordEmbeddings || !w.Contains(WeightMap.LmHead(c).Name) ? WeightMap.Embedding(c) : WeightMap.LmHead(c));
        double[] finalNorm = Vec(WeightMap.FinalNorm(c).Name, dim);
        double[][] normed = x.Select(row => Norm(row, 0, dim, finalNorm)).ToArray();
        if (finalHidden != null) normed.CopyTo(finalHidden, 0);
        return normed.Select(row => Linear(head, row, null)).ToArray();
    }
}
