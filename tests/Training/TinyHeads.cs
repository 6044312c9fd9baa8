using SpecCore.Tensors;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>Tiny random heads and batches for the training tests.</summary>
internal static class TinyHeads
{
    public static Eagle3HeadShape Shape(bool fcNorm = true, bool normOutput = true) => new()
    {
        HiddenSize = 8, Heads = 2, KvHeads = 1, HeadDim = 4, IntermediateSize = 12,
        DraftVocabSize = 6, TargetVocabSize = 10, AuxLayers = new[] { 0, 1, 2 }, FcNorm = fcNorm, NormOutput = normOutput,
        RmsNormEps = 1e-5f,
    };

    public static double[] InverseFrequencies(int headDim) =>
        Enumerable.Range(0, headDim / 2).Select(i => 1.0 / Math.Pow(10000, 2.0 * i / headDim)).ToArray();

    /// <summary>Sets every value of <paramref name="set"/> to a seeded random number (norm scales around 1).</summary>
    public static void Randomize<T>(ParameterSet<T> set, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        foreach (var p in set.All)
            for (int i = 0; i < p.Value.Length; i++)
                p.Value[i] = T.CreateChecked(p.Shape.Length == 1 ? 0.5 + rng.NextDouble() : (rng.NextDouble() - 0.5) * 0.8);
    }

    public static T[] RandomArray<T>(int length, int seed, double scale = 1) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var a = new T[length];
        for (int i = 0; i < length; i++) a[i] = T.CreateChecked((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>A batch with random features, tokens and top-k labels over a vocabulary of <paramref name="vocab"/>.</summary>
    public static HeadBatch<T> Batch<T>(int sequences, int length, int hidden, int vocab, int topK, int seed)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var batch = new HeadBatch<T>(sequences, length, hidden, topK);
        for (int i = 0; i < batch.Features.Length; i++) batch.Features[i] = T.CreateChecked(rng.NextDouble() * 4 - 2);
        for (int i = 0; i < batch.FinalHidden.Length; i++) batch.FinalHidden[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        for (int r = 0; r < sequences * length; r++)
        {
            batch.Tokens[r] = rng.Next(vocab);
            var ids = Enumerable.Range(0, vocab).OrderBy(_ => rng.Next()).Take(topK).ToArray();
            double[] w = ids.Select(_ => rng.NextDouble() + 0.05).OrderByDescending(x => x).ToArray();
            double sum = w.Sum() * (1 + rng.NextDouble() * 0.3); // the kept entries need not sum to 1
            for (int k = 0; k < topK; k++)
            {
                batch.LabelIds[r * topK + k] = ids[k];
                batch.LabelProbs[r * topK + k] = T.CreateChecked(w[k] / sum);
            }
        }
        return batch;
    }

    public static DraftVocabulary Vocabulary(int draft, int target)
    {
        var counts = new long[target];
        for (int i = 0; i < target; i++) counts[i] = (i * 7919) % 13;
        return DraftVocabulary.FromCounts(counts, draft);
    }

    public static WorkerPool Pool() => new(2);
}
