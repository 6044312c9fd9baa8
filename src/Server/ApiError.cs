namespace SpecCore.Server;

/// <summary>A request the API refuses: the HTTP status and the OpenAI-style error body's fields.</summary>
public sealed class ApiError(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(message)
{
    /// <summary>HTTP status code.</summary>
    public int Status { get; } = status;

    /// <summary>The request field at fault, or null.</summary>
    public string? Param { get; } = param;

    /// <summary>A machine-readable code (<c>model_not_found</c>, <c>context_length_exceeded</c>, ...), or null.</summary>
    public string? Code { get; } = code;

    /// <summary>The error type (<c>invalid_request_error</c>, <c>server_error</c>, ...).</summary>
    public string Type { get; } = type;
}
