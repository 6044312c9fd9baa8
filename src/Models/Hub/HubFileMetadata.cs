namespace SpecCore.Models.Hub;

/// <summary>What the hub says about one file of a revision (from a HEAD request on its resolve URL).</summary>
/// <param name="Commit">The commit the revision resolved to (<c>X-Repo-Commit</c>).</param>
/// <param name="Etag">The contents' id (<c>X-Linked-Etag</c> for LFS files, their sha256; else <c>ETag</c>, the git
/// blob sha1), quotes and the weak prefix removed. It names the blob in the cache.</param>
/// <param name="Size">The file's size in bytes (<c>X-Linked-Size</c> or <c>Content-Length</c>), or null when not given.</param>
/// <param name="DownloadUrl">Where to GET the bytes (the CDN location an LFS file redirects to, or the resolve URL).</param>
public sealed record HubFileMetadata(string Commit, string Etag, long? Size, Uri DownloadUrl);

/// <summary>A revision as the hub's API describes it: its commit and the files it holds.</summary>
/// <param name="Commit">The 40-hex commit hash.</param>
/// <param name="Files">Every file path in the revision ('/'-separated).</param>
public sealed record HubRevision(string Commit, IReadOnlyList<string> Files);

/// <summary>Progress of one file's download.</summary>
/// <param name="File">The file's path in the repo.</param>
/// <param name="Received">Bytes on disk so far (a resumed download starts above 0).</param>
/// <param name="Total">The file's size, or null when the hub did not say.</param>
/// <param name="Done">True on the last report of the file (verified and in place, or found in the cache).</param>
public readonly record struct DownloadProgress(string File, long Received, long? Total, bool Done);
