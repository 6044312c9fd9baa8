using System.Numerics;

namespace SpecCore.Training;

/// <summary>A training batch: <see cref="Sequences"/> windows of <see cref="Length"/> consecutive tokens with what the
/// target computed at each position. Row r = sequence · Length + position.</summary>
internal sealed class HeadBatch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public HeadBatch(int sequences, int length, int hidden, int topK)
    {
        Sequences = sequences;
        Length = length;
        Hidden = hidden;
        TopK = topK;
        int rows = sequences * length;
        Tokens = new int[rows];
        Features = new T[rows * 3 * hidden];
        FinalHidden = new T[rows * hidden];
        LabelIds = new int[rows * topK];
        LabelProbs = new T[rows * topK];
    }

    /// <summary>Number of windows.</summary>
    public int Sequences { get; }

    /// <summary>Tokens per window.</summary>
    public int Length { get; }

    /// <summary>Target hidden size H.</summary>
    public int Hidden { get; }

    /// <summary>Entries kept of each target distribution.</summary>
    public int TopK { get; }

    /// <summary>Token ids [rows].</summary>
    public int[] Tokens { get; }

    /// <summary>The hidden states entering the three feature layers after the target read the row's token,
    /// concatenated [rows, 3H].</summary>
    public T[] Features { get; }

    /// <summary>The target's final post-norm hidden state at the row [rows, H].</summary>
    public T[] FinalHidden { get; }

    /// <summary>Target token ids of the largest entries of the target's next-token distribution at the row, most
    /// likely first, -1 past the kept ones [rows, topK].</summary>
    public int[] LabelIds { get; }

    /// <summary>Their probabilities [rows, topK].</summary>
    public T[] LabelProbs { get; }
}
