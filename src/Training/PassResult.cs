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

    /// <summary>Adds another pass's counts (for evaluation over several batches).</summary>
    public void Add(PassResult other)
    {
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
