namespace SpecCore.Training;

/// <summary>The reduced draft vocabulary of an EAGLE-3 head: the most frequent target tokens of the training data,
/// kept in target-id order. Draft id d stands for target id <c>d + d2t[d]</c>; <c>t2d[id]</c> says whether a target
/// id has a draft id.</summary>
public sealed class DraftVocabulary
{
    private DraftVocabulary(int[] draftToTarget, int targetVocab)
    {
        DraftToTarget = draftToTarget;
        TargetToDraft = new int[targetVocab];
        Array.Fill(TargetToDraft, -1);
        for (int d = 0; d < draftToTarget.Length; d++) TargetToDraft[draftToTarget[d]] = d;
    }

    /// <summary>Target id of each draft id [Vd].</summary>
    public int[] DraftToTarget { get; }

    /// <summary>Draft id of each target id, -1 outside the draft vocabulary [V].</summary>
    public int[] TargetToDraft { get; }

    /// <summary>Draft vocabulary size.</summary>
    public int Size => DraftToTarget.Length;

    /// <summary>The public d2t offsets: target id minus draft id [Vd].</summary>
    public long[] Offsets()
    {
        var d2t = new long[DraftToTarget.Length];
        for (int d = 0; d < d2t.Length; d++) d2t[d] = DraftToTarget[d] - d;
        return d2t;
    }

    /// <summary>The <paramref name="size"/> most frequent target ids of <paramref name="counts"/> (ties: lower id
    /// first), sorted by id.</summary>
    public static DraftVocabulary FromCounts(long[] counts, int size)
    {
        if (size < 1 || size > counts.Length)
            throw new ArgumentOutOfRangeException(nameof(size), $"draft vocabulary size must be between 1 and the target vocabulary {counts.Length}, got {size}");
        var ids = new int[counts.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = i;
        Array.Sort(ids, (a, b) => counts[a] != counts[b] ? counts[b].CompareTo(counts[a]) : a.CompareTo(b));
        var kept = ids.AsSpan(0, size).ToArray();
        Array.Sort(kept);
        return new DraftVocabulary(kept, counts.Length);
    }

    /// <summary>The vocabulary a d2t offset table describes.</summary>
    public static DraftVocabulary FromOffsets(long[] d2t, int targetVocab)
    {
        var map = new int[d2t.Length];
        for (int d = 0; d < map.Length; d++)
        {
            long id = d + d2t[d];
            if (id < 0 || id >= targetVocab) throw new InvalidDataException($"d2t[{d}] = {d2t[d]} maps outside the target vocabulary of {targetVocab}");
            map[d] = (int)id;
        }
        return new DraftVocabulary(map, targetVocab);
    }
}
