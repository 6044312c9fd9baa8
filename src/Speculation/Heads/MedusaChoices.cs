namespace SpecCore.Speculation.Heads;

/// <summary>Medusa's candidate trees: each path [c0, c1, …] is a node at depth len(path) whose token is head d's
/// c_d-th best token along the way.</summary>
public static class MedusaChoices
{
    /// <summary>Medusa's default 63-node tree <c>mc_sim_7b_63</c> (FasterDecoding/Medusa, medusa/model/medusa_choices.py),
    /// found by simulation for Vicuna-7B.</summary>
    public static IReadOnlyList<int[]> McSim7b63 { get; } = Parse(
        "0;0,0;1;0,1;2;0,0,0;1,0;0,2;3;0,3;4;0,4;2,0;0,5;0,0,1;5;0,6;6;0,7;0,1,0;1,1;7;0,8;0,0,2;3,0;0,9;8;9;1,0,0;0,2,0;1,2;0,0,3;4,0;2,1;0,0,4;0,0,5;" +
        "0,0,0,0;0,1,1;0,0,6;0,3,0;5,0;1,3;0,0,7;0,0,8;0,0,9;6,0;0,4,0;1,4;7,0;0,1,2;2,0,0;3,1;2,2;8,0;0,5,0;1,5;1,0,1;0,2,1;9,0;0,6,0;0,0,0,1;1,6;0,7,0");

    /// <summary>Paths written as "0;0,0;1;…".</summary>
    public static IReadOnlyList<int[]> Parse(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split(',').Select(int.Parse).ToArray()).ToArray();

    /// <summary>The paths of at most <paramref name="heads"/> steps (a deeper path needs a head the file lacks), sorted
    /// as Medusa sorts them (by length, then lexicographically), so that every path's prefix comes before it.
    /// A path whose prefix is missing is dropped.</summary>
    public static int[][] ForHeads(IReadOnlyList<int[]> choices, int heads)
    {
        var kept = choices.Where(p => p.Length >= 1 && p.Length <= heads && p.All(c => c >= 0)).Select(p => p.ToArray()).ToList();
        kept.Sort((a, b) => a.Length != b.Length ? a.Length.CompareTo(b.Length) : Compare(a, b));
        var seen = new HashSet<string>();
        var result = new List<int[]>();
        foreach (int[] p in kept)
        {
            if (p.Length > 1 && !seen.Contains(string.Join(',', p[..^1]))) continue;
            if (seen.Add(string.Join(',', p))) result.Add(p);
        }
        return result.ToArray();
    }

    private static int Compare(int[] a, int[] b)
    {
        for (int i = 0; i < a.Length; i++)
            if (a[i] != b[i]) return a[i].CompareTo(b[i]);
        return 0;
    }
}
