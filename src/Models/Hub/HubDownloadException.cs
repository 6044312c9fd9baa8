namespace SpecCore.Models.Hub;

/// <summary>A download from the hub failed for a reason worth telling the user as is (a stall, an HTTP status, access
/// denied, a broken connection after retries); the message names the repo and file.</summary>
public sealed class HubDownloadException(string message) : IOException(message);
