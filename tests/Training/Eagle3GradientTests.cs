using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>The EAGLE-3 TTT backward against central finite differences, in F64, for every trainable parameter.</summary>
public sealed class Eagle3GradientTests
{
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void EveryParameterMatchesFiniteDifferences(bool fcNorm, bool normOutput)
    {
        var shape = TinyHeads.Shape(fcNorm, normOutput);
        var vocab = TinyHeads.Vocabulary(shape.DraftVocabSize, shape.TargetVocabSize);
        var set = Eagle3Parameters.Create<double>(shape);
        TinyHeads.Randomize(set, seed: 3);
        double[] embedding = TinyHeads.RandomArray<double>(shape.TargetVocabSize * shape.HiddenSize, seed: 4);
        using var pool = TinyHeads.Pool();
        var pass = new Eagle3TrainingPass<double>(shape, set, embedding, TinyHeads.InverseFrequencies(shape.HeadDim), vocab, pool,
            sequences: 2, length: 6, steps: 3);
        var batch = TinyHeads.Batch<double>(2, 6, shape.HiddenSize, shape.TargetVocabSize, topK: 4, seed: 5);

        set.ZeroGradients();
        pass.Run(batch, backward: true);
        GradientCheck.AssertMatches(set, () => pass.Run(batch, backward: false).Loss);
    }
}
