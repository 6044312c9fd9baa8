using SpecCore.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>The EAGLE-3 head definition written out in float64, one position at a time, with its own list of
/// cached keys and values: g = fc(cat(fc_norm_j(f_j))); a = cat(input_layernorm(embed(x)), hidden_norm(g));
/// q, k, v = W·a with RoPE at the given position; attention over every cached entry and itself; h = g + o(attn);
/// h2 = h + down(silu(gate(n)) ⊙ up(n)), n = post_attention_layernorm(h); out = norm(h2); logits = lm_head(out).</summary>
internal sealed class Eagle3Reference
{
    private readonly Eagle3Weights _w;
    private readonly float[] _embed; // [V, H] the target's table
    private readonly double[] _inv;
    private readonly double _eps;
    private readonly List<double[]> _keys = new(), _values = new();

    public Eagle3Reference(Eagle3Weights w, float[] targetEmbedding, ModelConfig target)
    {
        _w = w;
        _embed = targetEmbedding;
        _inv = (target with { HeadDim = w.HeadDim }).RopeInverseFrequencies();
        _eps = target.RmsNormEps;
    }

    public double[] Fc(double[] features) // [3H]
    {
        int h = _w.Hidden;
        var x = new double[3 * h];
        for (int j = 0; j < 3; j++)
        {
            double[] part = features.AsSpan(j * h, h).ToArray();
            if (_w.FcNorm) part = Norm(part, _w.T($"fc_norm.{j}.weight"));
            part.CopyTo(x, j * h);
        }
        return Linear(_w.T("fc.weight"), x, h);
    }

    public (double[] Logits, double[] Out, double[] H2) Step(double[] g, int token, int position)
    {
        int h = _w.Hidden, hd = _w.HeadDim;
        var e = new double[h];
        for (int i = 0; i < h; i++) e[i] = _embed[token * h + i];
        double[] a = Norm(e, _w.T("midlayer.input_layernorm.weight")).Concat(Norm(g, _w.T("midlayer.hidden_norm.weight"))).ToArray();
        double[] q = Linear(_w.T("midlayer.self_attn.q_proj.weight"), a, _w.Heads * hd);
        double[] k = Linear(_w.T("midlayer.self_attn.k_proj.weight"), a, _w.KvHeads * hd);
        double[] v = Linear(_w.T("midlayer.self_attn.v_proj.weight"), a, _w.KvHeads * hd);
        Rope(q, _w.Heads, position);
        Rope(k, _w.KvHeads, position);
        _keys.Add(k);
        _values.Add(v);
        var attended = new double[_w.Heads * hd];
        int group = _w.Heads / _w.KvHeads;
        for (int head = 0; head < _w.Heads; head++)
        {
            int kh = head / group;
            var scores = new double[_keys.Count];
            for (int j = 0; j < scores.Length; j++)
            {
                double dot = 0;
                for (int d = 0; d < hd; d++) dot += q[head * hd + d] * _keys[j][kh * hd + d];
                scores[j] = dot / Math.Sqrt(hd);
            }
            double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
            for (int j = 0; j < scores.Length; j++)
                for (int d = 0; d < hd; d++) attended[head * hd + d] += Math.Exp(scores[j] - max) / sum * _values[j][kh * hd + d];
        }
        double[] o = Linear(_w.T("midlayer.self_attn.o_proj.weight"), attended, h);
        var hs = new double[h];
        for (int i = 0; i < h; i++) hs[i] = g[i] + o[i];
        double[] n = Norm(hs, _w.T("midlayer.post_attention_layernorm.weight"));
        double[] gate = Linear(_w.T("midlayer.mlp.gate_proj.weight"), n, _w.Ffn), up = Linear(_w.T("midlayer.mlp.up_proj.weight"), n, _w.Ffn);
        for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
        double[] down = Linear(_w.T("midlayer.mlp.down_proj.weight"), gate, h);
        var h2 = new double[h];
        for (int i = 0; i < h; i++) h2[i] = hs[i] + down[i];
        double[] output = Norm(h2, _w.T("norm.weight"));
        double[] logits = _w.Rank is int r
            ? Linear(_w.T("lm_head.v.weight"), Linear(_w.T("lm_head.u.weight"), output, r), _w.DraftVocab)
            : Linear(_w.T("lm_head.weight"), output, _w.DraftVocab);
        return (logits, output, h2);
    }

    private static double[] Linear(float[] m, double[] x, int rows)
    {
        var y = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            for (int j = 0; j < x.Length; j++) s += m[i * x.Length + j] * x[j];
            y[i] = s;
        }
        return y;
    }

    private double[] Norm(double[] x, float[] weight)
    {
        double ss = x.Sum(v => v * v);
        double scale = 1 / Math.Sqrt(ss / x.Length + _eps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private void Rope(double[] v, int heads, int pos)
    {
        int hd = _w.HeadDim, half = hd / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
            {
                double angle = pos * (double)(float)_inv[j];
                double cos = Math.Cos(angle), sin = Math.Sin(angle);
                double a = v[h * hd + j], b = v[h * hd + j + half];
                v[h * hd + j] = a * cos - b * sin;
                v[h * hd + j + half] = b * cos + a * sin;
            }
    }
}
