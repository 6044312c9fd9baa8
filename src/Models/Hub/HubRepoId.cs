using System.Diagnostics.CodeAnalysis;

namespace SpecCore.Models.Hub;

/// <summary>A Hugging Face model repository id, <c>owner/name</c>.</summary>
/// <param name="Owner">The user or organisation.</param>
/// <param name="Name">The repository's name.</param>
public readonly record struct HubRepoId(string Owner, string Name)
{
    /// <summary>The folder the Hugging Face cache keeps this repo in: <c>models--owner--name</c>.</summary>
    public string CacheFolderName => $"models--{Owner}--{Name}";

    /// <summary>The id as written on the hub, <c>owner/name</c>.</summary>
    public override string ToString() => $"{Owner}/{Name}";

    /// <summary>Parses <c>owner/name</c>: exactly one slash, each part of letters, digits, '-', '_' and '.', not starting
    /// with '.' or '-' and with no "..", so that the id can never name a path outside the cache.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out HubRepoId? id)
    {
        id = null;
        int slash = text.IndexOf('/');
        if (slash <= 0 || slash != text.LastIndexOf('/') || slash == text.Length - 1) return false;
        string owner = text[..slash], name = text[(slash + 1)..];
        if (!IsPart(owner) || !IsPart(name)) return false;
        id = new HubRepoId(owner, name);
        return true;
    }

    /// <summary>Parses <c>owner/name</c> or throws <see cref="ArgumentException"/> saying what was expected.</summary>
    public static HubRepoId Parse(string text) => TryParse(text, out HubRepoId? id)
        ? id.Value
        : throw new ArgumentException($"'{Shorten(text)}' is not a Hugging Face repo id (expected owner/name of letters, digits, '-', '_', '.')");

    private static bool IsPart(string part)
    {
        if (part.Length is 0 or > 96 || part[0] is '.' or '-' || part.Contains("..", StringComparison.Ordinal)) return false;
        foreach (char c in part)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) return false;
        }
        return true;
    }

    private static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "...";
}
