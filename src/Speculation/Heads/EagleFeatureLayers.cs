namespace SpecCore.Speculation.Heads;

/// <summary>Which target layers an EAGLE-3 head reads: the one rule shared by the drafter and the trainer.</summary>
public static class EagleFeatureLayers
{
    /// <summary>The three layer indices whose INPUT (HF <c>hidden_states[l]</c>) an EAGLE-3 head of a target with
    /// <paramref name="layers"/> layers takes, in concatenation order: EAGLE-3's (2, L/2, L−3); where those
    /// coincide on a shallow target, (1, L/2, L−2) clamped to [0, L−1]; where those still coincide, three evenly
    /// spaced ones round(i·(L−1)/2). Targets of fewer than 3 layers get repeats.</summary>
    public static int[] For(int layers)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), "a target has at least one layer");
        int[] eagle = { 2, layers / 2, layers - 3 };
        if (Distinct(eagle, layers)) return eagle;
        int[] shallow = { Clamp(1, layers), Clamp(layers / 2, layers), Clamp(layers - 2, layers) };
        if (Distinct(shallow, layers)) return shallow;
        return new[] { 0, (int)Math.Round((layers - 1) / 2.0, MidpointRounding.AwayFromZero), layers - 1 };
    }

    private static int Clamp(int layer, int layers) => Math.Clamp(layer, 0, layers - 1);

    private static bool Distinct(int[] ids, int layers) =>
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2] && ids.All(l => l >= 0 && l < layers);
}
