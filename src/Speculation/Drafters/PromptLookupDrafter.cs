using SpecCore.Speculation.Trees;

namespace SpecCore.Speculation.Drafters;

/// <summary>
/// Prompt lookup (n-gram) drafting: find the most recent earlier occurrence of the sequence's last
/// n tokens (longest n first, from <see cref="MaxNgram"/> down to <see cref="MinNgram"/>) and propose the
/// tokens that followed it. Costs no model; shines when the output repeats the prompt (code, summaries).
/// </summary>
public sealed class PromptLookupDrafter : IDrafter
{
    /// <summary>Creates the drafter.</summary>
    public PromptLookupDrafter(int vocabSize, int maxNgram = 3, int minNgram = 1)
    {
        if (minNgram < 1 || maxNgram < minNgram) throw new ArgumentException("need 1 ≤ minNgram ≤ maxNgram");
        VocabSize = vocabSize;
        MaxNgram = maxNgram;
        MinNgram = minNgram;
    }

    /// <inheritdoc />
    public string Name => "lookup";
    /// <inheritdoc />
    public int VocabSize { get; }
    /// <inheritdoc />
    public int? MaxSequenceLength => null;
    /// <summary>Longest n-gram matched.</summary>
    public int MaxNgram { get; }
    /// <summary>Shortest n-gram matched.</summary>
    public int MinNgram { get; }

    /// <inheritdoc />
    public void Reset() { }

    /// <inheritdoc />
    /// <remarks>With a node budget larger than the depth (a tree request) several matches contribute: the continuations
    /// of the longest n-grams first, most recent first, merged into a trie, so distinct continuations become sibling
    /// branches. Every proposal is deterministic (q one-hot), which keeps sampling verification lossless.</remarks>
    public void Propose(ReadOnlySpan<int> sequence, DraftRequest request, DraftTree tree)
    {
        int depth = Math.Min(request.MaxDepth, tree.Capacity);
        int budget = Math.Min(request.MaxNodes, tree.Capacity);
        if (request.Tree is { } spec)
        {
            depth = Math.Min(depth, spec.MaxDepth);
            budget = Math.Min(budget, spec.NodeBudget);
        }
        if (depth <= 0 || budget <= 0) return;
        if (budget <= depth)
        {
            int start = FindContinuation(sequence, out _);
            if (start < 0) return;
            int parent = -1;
            for (int i = start; i < sequence.Length && tree.Count < budget; i++)
                parent = tree.Add(sequence[i], parent, 1f);
            return;
        }

        int length = sequence.Length;
        Span<int> starts = stackalloc int[MaxBranches];
        int found = 0;
        for (int ngram = Math.Min(MaxNgram, length - 1); ngram >= MinNgram && found < MaxBranches && tree.Count < budget; ngram--)
        {
            ReadOnlySpan<int> suffix = sequence.Slice(length - ngram);
            for (int s = length - ngram - 1; s >= 0 && found < MaxBranches && tree.Count < budget; s--)
            {
                if (!sequence.Slice(s, ngram).SequenceEqual(suffix)) continue;
                int start = s + ngram;
                if (starts.Slice(0, found).Contains(start)) continue; // the same continuation via a shorter n-gram
                starts[found++] = start;
                int parent = -1;
                for (int i = start; i < length && i - start < depth && tree.Count < budget; i++)
                {
                    int child = tree.FindChild(parent, sequence[i]);
                    parent = child >= 0 ? child : tree.Add(sequence[i], parent, 1f);
                }
            }
        }
    }

    /// <summary>Most matches merged into one tree.</summary>
    public const int MaxBranches = 16;

    /// <summary>Index of the token after the most recent earlier match of the longest suffix n-gram, or -1.</summary>
    public int FindContinuation(ReadOnlySpan<int> sequence, out int ngram)
    {
        int length = sequence.Length;
        for (ngram = Math.Min(MaxNgram, length - 1); ngram >= MinNgram; ngram--)
        {
            ReadOnlySpan<int> suffix = sequence.Slice(length - ngram);
            // Most recent first: recent text predicts the continuation best.
            for (int s = length - ngram - 1; s >= 0; s--)
            {
                if (sequence.Slice(s, ngram).SequenceEqual(suffix)) return s + ngram;
            }
        }
        ngram = 0;
        return -1;
    }

    /// <inheritdoc />
    public void Dispose() { }
}
