namespace SpecCore.Training;

/// <summary>What one forward (and backward) pass over a batch measured.</summary>
internal sealed class PassResult
{
    public PassResult(int steps)
    {
        StepLoss = new double[steps];
        Correct = new long[steps];
        Counted = new long[steps];
    }

    /// <summary>A result with nothing summed in yet.</summary>
    public static PassResult Empty(int steps) => new(steps) { Batches = 0 };

    /// <summary>The weighted loss that was differentiated.</summary>
    public double Loss { get; set; }

    /// <summary>Mean cross-entropy of each step (depth, or Medusa head).</summary>
    public double[] StepLoss { get; }

    /// <summary>Rows per step where the head's top-1 equals the target's top-1.</summary>
    public long[] Correct { get; }

    /// <summary>Rows counted per step.</summary>
    public long[] Counted { get; }

    /// <summary>Sum over positions of the number of leading steps all correct (a greedy chain's accepted drafts).</summary>
    public long ChainAccepted { get; set; }

    /// <summary>Positions that had every step (the chain acceptance denominator).</summary>
    public long ChainPositions { get; set; }

    /// <summary>Passes summed into this one (1 for a single pass).</summary>
    public int Batches { get; private set; } = 1;

    /// <summary>Adds another pass's sums (for evaluation over several batches; start from <see cref="Empty"/>).</summary>
    public void Add(PassResult other)
    {
        Batches += other.Batches;
        Loss += other.Loss;
        for (int i = 0; i < StepLoss.Length; i++)
        {
            StepLoss[i] += other.StepLoss[i];
            Correct[i] += other.Correct[i];
            Counted[i] += other.Counted[i];
        }
        ChainAccepted += other.ChainAccepted;
        ChainPositions += other.ChainPositions;
    }
}
