namespace SpecCore.Training;

/// <summary>The kinds of draft head <see cref="HeadTrainer"/> trains.</summary>
public enum HeadKind
{
    /// <summary>An EAGLE-3 head (one decoder layer over three target features, reduced draft vocabulary).</summary>
    Eagle3,
    /// <summary>Medusa heads (ResBlock + LM head each, over the target's final hidden state).</summary>
    Medusa,
}

/// <summary>What <see cref="HeadTrainer.Run"/> trains and how.</summary>
public sealed record HeadTrainingOptions
{
    /// <summary>The target's model folder.</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>Which head.</summary>
    public required HeadKind Kind { get; init; }
    /// <summary>Text files, and/or "self" for the target's own samples from the benchmark prompts.</summary>
    public required IReadOnlyList<string> Data { get; init; }
    /// <summary>Folder the head (and its resume state) is written to.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Optimizer updates in all (a resumed run continues up to this).</summary>
    public int Steps { get; init; } = 600;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Warm-up updates (null: 5 % of the steps).</summary>
    public int? WarmupSteps { get; init; }
    /// <summary>Cosine decay (false: linear) after the warm-up.</summary>
    public bool CosineDecay { get; init; } = true;
    /// <summary>Sequences per batch.</summary>
    public int Batch { get; init; } = 8;
    /// <summary>Tokens per sequence.</summary>
    public int SequenceLength { get; init; } = 128;
    /// <summary>EAGLE-3: unrolled training-time-test steps.</summary>
    public int TttSteps { get; init; } = 4;
    /// <summary>Medusa: number of heads.</summary>
    public int MedusaHeads { get; init; } = 3;
    /// <summary>EAGLE-3: draft vocabulary size (null: min(V, 32000)).</summary>
    public int? DraftVocab { get; init; }
    /// <summary>Entries of each target distribution kept as soft labels.</summary>
    public int TopK { get; init; } = 16;
    /// <summary>Sequences the target samples for "self" data.</summary>
    public int SelfSequences { get; init; } = 512;
    /// <summary>Sampling temperature of "self" data (below 1 moves the data towards what greedy decoding produces).</summary>
    public double SelfTemperature { get; init; } = 1.0;
    /// <summary>Global gradient-norm clip (0: none).</summary>
    public double Clip { get; init; } = 1.0;
    /// <summary>AdamW weight decay of the matrices.</summary>
    public double WeightDecay { get; init; } = 0.0;
    /// <summary>Seed of initialisation, sampling and batch order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Updates between held-out evaluations.</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Updates between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Continue from the resume state in the output folder.</summary>
    public bool Resume { get; init; }
    /// <summary>CPU threads (null: all cores).</summary>
    public int? Threads { get; init; }
    /// <summary>Stop (with a checkpoint) after this many updates of the schedule, for tests of resuming.</summary>
    internal int? StopAfter { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Require(Steps >= 1, $"--steps must be at least 1, got {Steps}");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"--lr must be a positive number, got {LearningRate}");
        Require(WarmupSteps is null or >= 0, $"--warmup must be 0 or more, got {WarmupSteps}");
        Require(Batch >= 1, $"--batch must be at least 1, got {Batch}");
        Require(SequenceLength >= 3, $"--seq must be at least 3, got {SequenceLength}");
        Require(TttSteps is >= 1 and <= 16, $"--ttt-steps must be between 1 and 16, got {TttSteps}");
        Require(SequenceLength > TttSteps + 1, $"--seq ({SequenceLength}) must exceed --ttt-steps + 1");
        Require(MedusaHeads is >= 1 and <= 16, $"--medusa-heads must be between 1 and 16, got {MedusaHeads}");
        Require(DraftVocab is null or >= 2, $"--draft-vocab must be at least 2, got {DraftVocab}");
        Require(TopK is >= 1 and <= 256, $"--top-k must be between 1 and 256, got {TopK}");
        Require(SelfSequences >= 1, $"--self-sequences must be at least 1, got {SelfSequences}");
        Require(SelfTemperature is > 0 and <= 4, $"--self-temperature must be above 0 and at most 4, got {SelfTemperature}");
        Require(Clip >= 0 && double.IsFinite(Clip), $"--clip must be 0 or more, got {Clip}");
        Require(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"--weight-decay must be 0 or more, got {WeightDecay}");
        Require(EvalEvery >= 1, $"--eval-every must be at least 1, got {EvalEvery}");
        Require(CheckpointEvery >= 1, $"--checkpoint-every must be at least 1, got {CheckpointEvery}");
        Require(Data.Count >= 1, "--data needs text files or 'self'");
        Require(Threads is null or >= 1, $"--threads must be at least 1, got {Threads}");
    }
}
