using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Families;
using SpecCore.Speculation.Heads;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Loading EAGLE-3 heads in both public layouts, the refusals, and the head forward against the float64
/// reference of the definition.</summary>
public class Eagle3HeadTests
{
    internal static ModelConfig Target(int vocab = 64) => BatchForwardTests.TinyConfig(vocab: vocab) with { Layers = 4 };

    [Theory]
    [InlineData("midlayer.", true, true, 0)]
    [InlineData("layers.0.", true, true, 0)]
    [InlineData("midlayer.", false, false, 0)]
    [InlineData("midlayer.", true, false, 0)]
    [InlineData("layers.0.", true, true, 8)]
    public unsafe void StepMatchesScalarReference(string layout, bool fcNorm, bool normOutput, int rank)
    {
        var config = Target();
        using var weights = new SyntheticWeights(config, seed: 5);
        using var backend = new CpuBackend(2);
        using var target = TransformerModel.Create(config, weights, backend);
        var (folder, w) = TestHeads.WriteEagle3(config, layout, seed: 3, draftVocab: 40, fcNorm: fcNorm, normOutput: normOutput, rank: rank > 0 ? rank : null);
        try
        {
            using var head = Eagle3Head.Load(folder, target);
            Assert.Equal(layout.TrimEnd('.'), head.Layout);
            Assert.Equal(fcNorm, head.HasFcNorm);
            int[] tokens = { 1, 9, 33, 4, 60, 17, 2 };
            int n = tokens.Length - 1, h = config.HiddenSize, vd = head.DraftVocabSize;
            using var state = target.CreateState(features: head.FeatureRequest);
            target.Forward(state, tokens);

            var embedTensor = weights.Get(WeightMap.Embedding(config).Name, config.VocabSize, h);
            var embed = new ReadOnlySpan<float>((void*)embedTensor.Pointer, config.VocabSize * h).ToArray();
            var reference = new Eagle3Reference(w, embed, config);

            using var s = head.CreateState(32, 16);
            var rows = Enumerable.Range(0, n).ToArray();
            head.ComputeFc(s, state.Features!, rows);
            backend.CopyRows(s.Fc, 0, s.G, 0, n);
            var parents = Enumerable.Range(-1, n).ToArray();
            var positions = Enumerable.Range(1, n).ToArray();
            head.Step(s, n, tokens.AsSpan(1), positions, 0, parents);
            float[] logits = head.ReadLogits(s, n).ToArray();

            var feature = new float[3 * h];
            (double[] Logits, double[] Out, double[] H2) last = default;
            for (int t = 0; t < n; t++)
            {
                state.Features!.ReadConcatenated(t, feature);
                last = reference.Step(reference.Fc(feature.Select(x => (double)x).ToArray()), tokens[t + 1], t + 1);
                for (int d = 0; d < vd; d++)
                    Assert.True(Math.Abs(logits[t * vd + d] - last.Logits[d]) <= 1e-4, $"position {t}, draft id {d}: {logits[t * vd + d]} vs {last.Logits[d]}");
            }

            // The next depth off the last position: g = out (norm_output) or h2, a drafted token, one position on.
            head.FeedBack(s, new[] { n - 1 });
            head.Step(s, 1, new[] { 21 }, new[] { n + 1 }, n, new[] { -1 });
            float[] next = head.ReadLogits(s, 1).ToArray();
            var expected = reference.Step((normOutput ? last.Out : last.H2)!, 21, n + 1).Logits;
            for (int d = 0; d < vd; d++)
                Assert.True(Math.Abs(next[d] - expected[d]) <= 1e-4, $"depth 1, draft id {d}: {next[d]} vs {expected[d]}");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void DraftVocabularyMapsThroughD2t()
    {
        var config = Target();
        using var weights = new SyntheticWeights(config, seed: 5);
        using var backend = new CpuBackend(1);
        using var target = TransformerModel.Create(config, weights, backend);
        var (folder, w) = TestHeads.WriteEagle3(config, draftVocab: 40);
        try
        {
            using var head = Eagle3Head.Load(folder, target);
            Assert.Equal(40, head.DraftVocabSize);
            for (int d = 0; d < 40; d++) Assert.Equal(d + (int)w.D2t[d], head.DraftToTarget[d]);
            Assert.Equal(new[] { 0, 2, 3 }, head.AuxLayers); // EagleFeatureLayers.For(4), as the config records
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "shape", "tensor 'midlayer.self_attn.q_proj.weight' has shape [32, 60] but the config implies [32, 64]" },
        { "missing", "tensor 'fc.weight' is missing" },
        { "d2t", "tensor 'd2t' maps draft id 3 to target id 64, outside the target's vocabulary of 64" },
        { "hidden", "field 'hidden_size' is 48 but the target's hidden size is 32" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void BadHeadsAreRefusedInOneLine(string fault, string message)
    {
        var config = Target();
        using var weights = new SyntheticWeights(config, seed: 5);
        using var backend = new CpuBackend(1);
        using var target = TransformerModel.Create(config, weights, backend);
        var (folder, _) = TestHeads.WriteEagle3(config, draftVocab: 40,
            tamper: (t, shapes) =>
            {
                if (fault == "shape")
                {
                    t["midlayer.self_attn.q_proj.weight"] = new float[32 * 60];
                    shapes["midlayer.self_attn.q_proj.weight"] = new[] { 32, 60 };
                }
                if (fault == "missing") t.Remove("fc.weight");
            },
            tamperD2t: d2t => { if (fault == "d2t") d2t[3] = 64 - 3; });
        try
        {
            if (fault == "hidden")
            {
                string path = Path.Combine(folder, "config.json");
                File.WriteAllText(path, File.ReadAllText(path).Replace("\"hidden_size\":32", "\"hidden_size\":48"));
            }
            var e = Assert.Throws<InvalidDataException>(() => Eagle3Head.Load(folder, target).Dispose());
            Assert.Contains(message, e.Message);
            Assert.Contains(folder, e.Message);
            Assert.DoesNotContain('\n', e.Message);
            Assert.True(e.Message.Length < 300, e.Message);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
