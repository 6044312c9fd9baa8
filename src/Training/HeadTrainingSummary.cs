namespace SpecCore.Training;

/// <summary>What a training run reached.</summary>
public sealed record HeadTrainingSummary
{
    /// <summary>Updates taken in all (including those of a run it resumed).</summary>
    public required int Steps { get; init; }
    /// <summary>Training loss of the last update.</summary>
    public required double FinalLoss { get; init; }
    /// <summary>Training loss of the first update of this run.</summary>
    public required double FirstLoss { get; init; }
    /// <summary>Held-out top-1 agreement with the target per depth (EAGLE-3) or head (Medusa).</summary>
    public required double[] HeldOutTop1 { get; init; }
    /// <summary>Held-out mean drafted tokens a greedy chain of all depths would have accepted.</summary>
    public required double HeldOutChainAcceptance { get; init; }
    /// <summary>Tokens the model was trained on (sequences × length).</summary>
    public required long TrainingTokens { get; init; }
    /// <summary>Wall time of the whole run.</summary>
    public required double Seconds { get; init; }
}
