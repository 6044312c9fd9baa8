using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>The Medusa heads' backward against central finite differences, in F64, for every trainable parameter.</summary>
public sealed class MedusaGradientTests
{
    [Fact]
    public void EveryParameterMatchesFiniteDifferences()
    {
        const int heads = 3, hidden = 6, vocab = 9;
        var set = MedusaTrainingPass<double>.CreateParameters(heads, hidden, vocab);
        TinyHeads.Randomize(set, seed: 7);
        using var pool = TinyHeads.Pool();
        var pass = new MedusaTrainingPass<double>(set, heads, hidden, vocab, pool, sequences: 2, length: 7);
        var batch = TinyHeads.Batch<double>(2, 7, hidden, vocab, topK: 4, seed: 8);
        set.ZeroGradients();
        pass.Run(batch, backward: true);
        GradientCheck.AssertMatches(set, () => pass.Run(batch, backward: false).Loss);
    }
}
