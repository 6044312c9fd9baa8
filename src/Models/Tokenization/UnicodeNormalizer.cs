using System.Text;

namespace SpecCore.Models.Tokenization;

/// <summary>
/// Canonical Unicode normalization (NFC, NFD) in managed code. The project runs with
/// InvariantGlobalization, where <see cref="string.Normalize()"/> returns its input unchanged.
/// Tables: <see cref="UnicodeNfcData"/>.
/// </summary>
internal static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Dictionary<long, int>> s_compositions = new(BuildCompositions);

    /// <summary>Canonical composition (NFC).</summary>
    public static string ToNfc(string text) => AllBelow(text, 0x300) ? text : Normalize(text, compose: true);

    /// <summary>Canonical decomposition (NFD).</summary>
    public static string ToNfd(string text) => AllBelow(text, 0xC0) ? text : Normalize(text, compose: false);

    /// <summary>
    /// Quick check: text below U+0300 is in NFC (nothing there composes or is excluded), text below U+00C0 in NFD.
    /// </summary>
    private static bool AllBelow(string text, int limit)
    {
        foreach (char c in text)
            if (c >= limit) return false;
        return true;
    }

    private static string Normalize(string text, bool compose)
    {
        var cps = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                cp = char.ConvertToUtf32(text[i], text[++i]);
            Decompose(cp, cps);
        }
        ReorderCanonically(cps);
        if (compose) Compose(cps);

        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp); // lone surrogate: keep as is
            else sb.Append(new Rune(cp).ToString());
        }
        return sb.ToString();
    }

    private static void Decompose(int cp, List<int> output)
    {
        int s = cp - SBase;
        if ((uint)s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        int index = UnicodeNfcData.DecompositionKeys.BinarySearch(cp);
        if (index < 0)
        {
            output.Add(cp);
            return;
        }
        ReadOnlySpan<int> offsets = UnicodeNfcData.DecompositionOffsets;
        foreach (int d in UnicodeNfcData.DecompositionData[offsets[index]..offsets[index + 1]]) output.Add(d);
    }

    /// <summary>Stable sort of each run of non-starters by combining class.</summary>
    private static void ReorderCanonically(List<int> cps)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = CombiningClass(cps[i]);
            if (cc == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int previous = CombiningClass(cps[j - 1]);
                if (previous <= cc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    /// <summary>The canonical composition algorithm of UAX #15.</summary>
    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        int starterIndex = CombiningClass(cps[0]) == 0 ? 0 : -1;
        int lastClass = starterIndex == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int cp = cps[read];
            int cc = CombiningClass(cp);
            if (starterIndex >= 0 && (lastClass < cc || lastClass == 0) && TryCompose(cps[starterIndex], cp, out int composite))
            {
                cps[starterIndex] = composite;
                continue;
            }
            if (cc == 0) starterIndex = write;
            lastClass = cc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if ((uint)l < LCount && (uint)v < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }
        int s = first - SBase, t = second - TBase;
        if ((uint)s < SCount && s % TCount == 0 && t > 0 && t < TCount)
        {
            composite = first + t;
            return true;
        }
        return s_compositions.Value.TryGetValue(((long)first << 32) | (uint)second, out composite);
    }

    private static int CombiningClass(int cp)
    {
        if (cp < 0x300) return 0;
        ReadOnlySpan<int> ranges = UnicodeNfcData.CombiningClassRanges;
        int lo = 0, hi = ranges.Length / 3 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[mid * 3]) hi = mid - 1;
            else if (cp > ranges[mid * 3 + 1]) lo = mid + 1;
            else return ranges[mid * 3 + 2];
        }
        return 0;
    }

    private static Dictionary<long, int> BuildCompositions()
    {
        ReadOnlySpan<int> triples = UnicodeNfcData.CompositionTriples;
        var map = new Dictionary<long, int>(triples.Length / 3);
        for (int i = 0; i < triples.Length; i += 3)
            map[((long)triples[i] << 32) | (uint)triples[i + 1]] = triples[i + 2];
        return map;
    }
}
