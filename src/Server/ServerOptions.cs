namespace SpecCore.Server;

/// <summary>How <c>speccore serve</c> listens and how many requests it serves at once.</summary>
public sealed record ServerOptions
{
    /// <summary>Address to listen on; loopback by default, so nothing outside the machine can reach the model.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port (0: any free port, see <see cref="OpenAiServer.Port"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Requests generating at once, each in its own session (KV cache); more wait in a queue.</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Requests allowed to wait for a slot; beyond that a request is answered 503 at once.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>Largest request body in bytes; a larger one is answered 413.</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>The model id clients send and <c>/v1/models</c> lists (default: the model's folder name).</summary>
    public string? ModelId { get; init; }
}
