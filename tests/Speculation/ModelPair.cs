using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>A target and a draft model on one CPU backend, for speculation tests: a real shared pair or a tiny
/// random pair (the draft is a one-layer model of the same shape, so the two agree only partly).</summary>
internal sealed class ModelPair : IDisposable
{
    private readonly List<IDisposable> _owned = new();

    private ModelPair() { }

    public TransformerModel Target { get; private set; } = null!;
    public TransformerModel Draft { get; private set; } = null!;

    /// <summary>The shared pairs of ../shared/models.</summary>
    public static TheoryData<string, string> RealPairs => new()
    {
        { "stories2M", "stories260K" },
        { "stories260K", "tinystories-draft" },
    };

    public static ModelPair Real(string target, string draft, int threads = 2)
    {
        var pair = new ModelPair();
        var backend = pair.Own(new CpuBackend(threads));
        pair.Target = pair.Load(target, backend);
        pair.Draft = pair.Load(draft, backend);
        return pair;
    }

    public static ModelPair Tiny(int vocab = 16, int targetSeed = 4, int draftSeed = 8)
    {
        var pair = new ModelPair();
        var backend = pair.Own(new CpuBackend(1));
        var config = BatchForwardTests.TinyConfig(vocab: vocab);
        pair.Target = pair.Own(TransformerModel.Create(config, pair.Own(new SyntheticWeights(config, targetSeed)), backend));
        var draftConfig = config with { Layers = 1 };
        pair.Draft = pair.Own(TransformerModel.Create(draftConfig, pair.Own(new SyntheticWeights(draftConfig, draftSeed)), backend));
        return pair;
    }

    private TransformerModel Load(string name, CpuBackend backend)
    {
        var weights = Own(CheckpointWeights.Open(TestModels.Path(name)));
        return Own(TransformerModel.Create(ModelConfig.Load(TestModels.Path(name)), weights, backend));
    }

    private T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    public void Dispose()
    {
        // Models before their weights and backend.
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
