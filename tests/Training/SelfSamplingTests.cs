using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Tokenization;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>The target's own samples for <c>--data self</c>: the temperature reaches the sampler.</summary>
public sealed class SelfSamplingTests : IDisposable
{
    private readonly string _dir = TinyTarget.TempDirectory("self");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void NearZeroTemperatureSamplesTheGreedyContinuation()
    {
        string dir = TinyTarget.Create(Path.Combine(_dir, "target"));
        using var backend = new CpuBackend(1);
        using var target = LoadedModel.Load(dir, backend);
        ITextTokenizer tokenizer = TokenizerLoader.Load(dir);
        string[] prompts = { "Once upon a time", "The cat" };
        const int length = 20;

        List<int[]> cold = TargetRecorder.FromSelf(target.Model, tokenizer, prompts, count: 2, length, seed: 3, temperature: 1e-4f);
        List<int[]> warm = TargetRecorder.FromSelf(target.Model, tokenizer, prompts, count: 2, length, seed: 3, temperature: 1f);

        using InferenceState state = target.Model.CreateState(capacity: length, maxBatch: length);
        for (int s = 0; s < prompts.Length; s++)
        {
            int[] prompt = tokenizer.Encode(prompts[s], addSpecialTokens: true);
            Assert.Equal(prompt, cold[s][..prompt.Length]);
            state.Cache.Truncate(0);
            ReadOnlySpan<float> logits = target.Model.Forward(state, prompt, default, LogitsRows.Last);
            for (int t = prompt.Length; t < length; t++)
            {
                int best = 0;
                for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
                Assert.Equal(best, cold[s][t]);
                if (t + 1 < length) logits = target.Model.Forward(state, cold[s].AsSpan(t, 1), default, LogitsRows.Last);
            }
        }
        // A random target's distributions are flat enough that temperature 1 leaves the greedy path.
        Assert.False(cold.Zip(warm).All(p => p.First.SequenceEqual(p.Second)));
    }

    [Fact]
    public void TemperatureMustBePositive()
    {
        string dir = TinyTarget.Create(Path.Combine(_dir, "target"));
        using var backend = new CpuBackend(1);
        using var target = LoadedModel.Load(dir, backend);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            TargetRecorder.FromSelf(target.Model, TokenizerLoader.Load(dir), new[] { "Hi" }, 1, 8, 1, temperature: 0f));
    }
}
