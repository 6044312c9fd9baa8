namespace SpecCore.Training;

/// <summary>What the target computed over the training sequences, kept for head training: per token the three
/// feature-layer inputs (EAGLE-3) or the final post-norm hidden state (Medusa), and the top-k of its next-token
/// distribution. Hidden states are kept as F16 to halve the memory.</summary>
internal sealed class TargetRecording
{
    private readonly List<int[]> _tokens = new();
    private readonly List<Half[]> _hidden = new();     // [len, width]
    private readonly List<int[]> _labelIds = new();    // [len, topK]
    private readonly List<float[]> _labelProbs = new(); // [len, topK]

    public TargetRecording(int hiddenWidth, int topK, int length)
    {
        HiddenWidth = hiddenWidth;
        TopK = topK;
        Length = length;
    }

    /// <summary>Values of hidden state kept per token (3H for EAGLE-3, H for Medusa).</summary>
    public int HiddenWidth { get; }

    /// <summary>Distribution entries kept per token.</summary>
    public int TopK { get; }

    /// <summary>Tokens per sequence.</summary>
    public int Length { get; }

    /// <summary>Number of sequences.</summary>
    public int Count => _tokens.Count;

    /// <summary>The tokens of sequence <paramref name="index"/>.</summary>
    public int[] Tokens(int index) => _tokens[index];

    /// <summary>Adds a sequence (the arrays are kept, not copied).</summary>
    public void Add(int[] tokens, Half[] hidden, int[] labelIds, float[] labelProbs)
    {
        if (tokens.Length != Length || hidden.Length != Length * HiddenWidth || labelIds.Length != Length * TopK || labelProbs.Length != labelIds.Length)
            throw new ArgumentException("sequence arrays do not match the recording's shape");
        _tokens.Add(tokens);
        _hidden.Add(hidden);
        _labelIds.Add(labelIds);
        _labelProbs.Add(labelProbs);
    }

    /// <summary>Copies sequence <paramref name="index"/> into slot <paramref name="slot"/> of <paramref name="batch"/>
    /// (hidden states into Features when they are 3H wide, else FinalHidden).</summary>
    public void CopyTo(int index, HeadBatch<float> batch, int slot)
    {
        int len = Length, w = HiddenWidth, k = TopK;
        Array.Copy(_tokens[index], 0, batch.Tokens, slot * len, len);
        float[] dst = w == 3 * batch.Hidden ? batch.Features : batch.FinalHidden;
        Half[] src = _hidden[index];
        int at = slot * len * w;
        for (int i = 0; i < src.Length; i++) dst[at + i] = (float)src[i];
        Array.Copy(_labelIds[index], 0, batch.LabelIds, slot * len * k, len * k);
        Array.Copy(_labelProbs[index], 0, batch.LabelProbs, slot * len * k, len * k);
    }

    /// <summary>How often each target id occurs in sequences [0, <paramref name="sequences"/>).</summary>
    public long[] TokenCounts(int vocab, int sequences)
    {
        var counts = new long[vocab];
        for (int s = 0; s < sequences; s++)
            foreach (int t in _tokens[s]) counts[t]++;
        return counts;
    }
}
