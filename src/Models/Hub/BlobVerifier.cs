using System.Security.Cryptography;
using System.Text;

namespace SpecCore.Models.Hub;

/// <summary>Checks a downloaded file against the hash it must have: a sha256 (from models.json, or the ETag of an LFS
/// file, which is its sha256) or a git blob sha1 (the ETag of a file kept in git itself).</summary>
public static class BlobVerifier
{
    /// <summary>Which hash an expected value is, judged from its length.</summary>
    public enum HashKind
    {
        /// <summary>Not a hash this verifier knows: nothing is checked.</summary>
        None,
        /// <summary>64 hex digits: the sha256 of the contents.</summary>
        Sha256,
        /// <summary>40 hex digits: git's sha1 of "blob {size}\0" followed by the contents.</summary>
        GitBlobSha1,
    }

    /// <summary>The kind of <paramref name="expected"/>.</summary>
    public static HashKind KindOf(string? expected) => expected == null || !HuggingFaceCache.IsLowerHex(expected.ToLowerInvariant()) ? HashKind.None
        : expected.Length == 64 ? HashKind.Sha256
        : expected.Length == 40 ? HashKind.GitBlobSha1
        : HashKind.None;

    /// <summary>The hash of <paramref name="path"/>'s contents in the form <paramref name="kind"/> names (lower-case hex).</summary>
    public static string Compute(string path, HashKind kind)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using IncrementalHash hash = IncrementalHash.CreateHash(kind == HashKind.Sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1);
        if (kind == HashKind.GitBlobSha1) hash.AppendData(Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0) hash.AppendData(buffer, 0, n);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
