using SpecCore.Kernels.Sampling;
using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Generation;

/// <summary>Settings of one generation.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate after the prompt.</summary>
    public int MaxNewTokens { get; init; } = 128;

    /// <summary>How tokens are chosen (greedy by default).</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Tokens that end the generation besides the target's own EOS ids (<c>ModelConfig.EosIds</c>, which always
    /// stop it unless <see cref="IgnoreEos"/>), e.g. the tokenizer's EOS or a chat template's end-of-turn token. The stop
    /// token is not emitted.</summary>
    public IReadOnlyList<int> StopTokens { get; init; } = Array.Empty<int>();

    /// <summary>Generate past EOS and every other stop token, so that exactly <see cref="MaxNewTokens"/> tokens come out
    /// unless the context fills first (benchmarks need fixed lengths).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>How many tokens to draft per round (speculative decoding only).</summary>
    public DraftLengthPolicy DraftLength { get; init; } = DraftLengthPolicy.Fixed(4);

    /// <summary>Node budget of a draft tree per round; null: the draft length (a chain). Ignored when <see cref="Tree"/> is set.</summary>
    public int? TreeNodes { get; init; }

    /// <summary>Draft a token tree of this setting each round instead of a chain (its node budget and depth replace
    /// <see cref="DraftLength"/> and <see cref="TreeNodes"/>); null: chains. A Sequoia setting must have its profile
    /// (<see cref="TreeSpec.WithProfile"/>).</summary>
    public TreeSpec? Tree { get; init; }

    /// <summary>Ends the generation at the next round (or prefill chunk) once cancelled, with <see cref="StopReason.Cancelled"/>;
    /// the tokens emitted so far are returned.</summary>
    public CancellationToken Cancellation { get; init; }
}
