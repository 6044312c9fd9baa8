using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Speculation.Heads;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>Heads written by the trainer load in the inference side (<see cref="Eagle3Head"/>, <see cref="MedusaHeads"/>),
/// and the trainer's host forward equals the backend forward of the same head within 1e-4.</summary>
public sealed class TrainedHeadLoadsTests
{
    [Fact]
    public void Eagle3HostForwardEqualsTheBackendHead()
    {
        string root = TinyTarget.TempDirectory("eagle-equal");
        string model = TinyTarget.Create(Path.Combine(root, "target"));
        using var backend = new CpuBackend(2);
        using var target = LoadedModel.Load(model, backend);
        ModelConfig tc = target.Config;
        int h = tc.HiddenSize, len = 12, steps = 3, vd = 40;
        int[] layers = EagleFeatureLayers.For(tc.Layers);
        var shape = new Eagle3HeadShape
        {
            HiddenSize = h, Heads = tc.Heads, KvHeads = tc.KvHeads, HeadDim = tc.HeadDim, IntermediateSize = tc.IntermediateSize,
            DraftVocabSize = vd, TargetVocabSize = tc.VocabSize, RmsNormEps = tc.RmsNormEps, AuxLayers = layers,
        };
        var set = Eagle3Parameters.Create<float>(shape);
        TinyHeads.Randomize(set, seed: 9);
        var counts = new long[tc.VocabSize];
        var rng = new Random(3);
        var tokens = new int[len];
        for (int i = 0; i < len; i++) { tokens[i] = rng.Next(tc.VocabSize); counts[tokens[i]] += 10; }
        for (int i = 0; i < counts.Length; i++) counts[i] += i % 7;
        var vocab = DraftVocabulary.FromCounts(counts, vd);
        string headDir = Path.Combine(root, "head");
        HeadCheckpoint.WriteEagle3(headDir, set, shape, vocab, tc.RopeTheta, tc.MaxPositions, bf16: false);

        // The target's features over one sequence in F32 (the recording keeps F16; this compares the forwards alone).
        using var features = target.Model.CreateState(capacity: len, maxBatch: len, features: new TargetFeatureRequest(layers));
        target.Model.Forward(features, tokens);
        var batch = new HeadBatch<float>(1, len, h, 4);
        tokens.CopyTo(batch.Tokens, 0);
        for (int p = 0; p < len; p++) features.Features!.ReadConcatenated(p, batch.Features.AsSpan(p * 3 * h, 3 * h));
        for (int i = 0; i < batch.LabelIds.Length; i++) batch.LabelIds[i] = i % 4 == 0 ? vocab.DraftToTarget[i % vd] : -1;
        Array.Fill(batch.LabelProbs, 1f);
        float[] embedding = new float[tc.VocabSize * h];
        var table = target.Weights.Get(SpecCore.Models.Families.WeightMap.Embedding(tc).Name, tc.VocabSize, h);
        for (int r = 0; r < tc.VocabSize; r++) WeightConversion.ReadRowAsF32(table, r, embedding.AsSpan(r * h, h));
        using var pool = new SpecCore.Tensors.WorkerPool(2);
        var pass = new Eagle3TrainingPass<float>(shape, set, embedding, tc.RopeInverseFrequencies(), vocab, pool, 1, len, steps);
        int positions = len - 1;
        pass.CapturedLogits = Enumerable.Range(0, steps).Select(_ => new float[positions * vd]).ToArray();
        pass.Run(batch, backward: false);

        // The same head on the backend: depth 0 over every position, then depths 1 and 2 off position t.
        using var head = Eagle3Head.Load(headDir, target.Model);
        Assert.Equal(vocab.DraftToTarget, head.DraftToTarget.ToArray());
        Assert.Equal(layers, head.AuxLayers);
        using var s = head.CreateState(capacity: len + steps, maxBatch: len);
        int[] rows = Enumerable.Range(0, positions).ToArray();
        head.ComputeFc(s, features.Features!, rows);
        backend.CopyRows(s.Fc, 0, s.G, 0, positions);
        int[] chain = Enumerable.Range(-1, positions).ToArray();
        head.Step(s, positions, tokens.AsSpan(1, positions), Enumerable.Range(1, positions).ToArray(), 0, chain);
        AssertClose(pass.CapturedLogits[0], head.ReadLogits(s, positions), "depth 0");

        int t = 5;
        for (int depth = 1; depth < steps; depth++)
        {
            head.FeedBack(s, new[] { depth == 1 ? t : 0 });
            // Step-0 keys of positions 0..t sit in slots 0..t; the previous depths' keys of t follow them.
            head.Step(s, 1, new[] { tokens[t + 1 + depth] }, new[] { t + 1 + depth }, t + depth, new[] { -1 });
            AssertClose(pass.CapturedLogits[depth].AsSpan(t * vd, vd).ToArray(), head.ReadLogits(s, 1), $"depth {depth}");
        }
        Directory.Delete(root, recursive: true);
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"{what}: logit {i} host {expected[i]} backend {actual[i]}");
    }
}

/// <summary>Medusa heads written by the trainer load in <see cref="MedusaHeads"/> and give the trainer's logits within 1e-4.</summary>
public sealed class TrainedMedusaLoadsTests
{
    [Fact]
    public void MedusaHostForwardEqualsTheBackendHeads()
    {
        string root = TinyTarget.TempDirectory("medusa-equal");
        string model = TinyTarget.Create(Path.Combine(root, "target"));
        using var backend = new CpuBackend(2);
        using var target = LoadedModel.Load(model, backend);
        int h = target.Config.HiddenSize, v = target.Config.VocabSize, heads = 3, len = 6;
        var set = MedusaTrainingPass<float>.CreateParameters(heads, h, v);
        TinyHeads.Randomize(set, seed: 4);
        string dir = Path.Combine(root, "medusa");
        HeadCheckpoint.WriteMedusa(dir, set, heads, h, v, bf16: false);

        var batch = new HeadBatch<float>(1, len, h, 2);
        var rng = new Random(6);
        for (int i = 0; i < batch.FinalHidden.Length; i++) batch.FinalHidden[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < batch.LabelIds.Length; i++) batch.LabelIds[i] = i % 2 == 0 ? rng.Next(v) : -1;
        Array.Fill(batch.LabelProbs, 1f);
        using var pool = new SpecCore.Tensors.WorkerPool(2);
        var pass = new MedusaTrainingPass<float>(set, heads, h, v, pool, 1, len);
        pass.CapturedLogits = Enumerable.Range(0, heads).Select(_ => new float[len * v]).ToArray();
        pass.Run(batch, backward: false);

        using var loaded = MedusaHeads.Load(dir, target.Model);
        Assert.Equal(heads, loaded.HeadCount);
        using var hidden = backend.Allocate(SpecCore.Tensors.DType.F32, 1, h);
        for (int t = 0; t < len; t++)
        {
            backend.Write(hidden, batch.FinalHidden.AsSpan(t * h, h));
            float[] logits = loaded.Forward(hidden).ToArray();
            for (int i = 0; i < heads; i++)
                for (int x = 0; x < v; x++)
                {
                    float expected = pass.CapturedLogits[i][t * v + x], actual = logits[i * v + x];
                    Assert.True(Math.Abs(expected - actual) <= 1e-4 * Math.Max(1, Math.Abs(expected)), $"head {i} position {t} logit {x}: host {expected} backend {actual}");
                }
        }
        Directory.Delete(root, recursive: true);
    }
}
