using SpecCore.Engine;
using SpecCore.Kernels.Cpu;
using SpecCore.Server;

namespace SpecCore.Tests.Server;

/// <summary>One server on a free loopback port over stories2M drafted by stories260K, shared by the server tests.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private CpuBackend? _backend;

    public InferenceEngine Engine { get; private set; } = null!;
    public OpenAiServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public string Url => Server.Url;

    public async Task InitializeAsync()
    {
        _backend = new CpuBackend(2);
        Engine = InferenceEngine.Load(new EngineOptions { Model = TestModels.Path("stories2M"), Draft = TestModels.Path("stories260K") }, _backend);
        Server = await OpenAiServer.StartAsync(Engine, new ServerOptions { Port = 0, Slots = 8, MaxQueue = 16, MaxBodyBytes = 64 * 1024 });
        Http = new HttpClient { BaseAddress = new Uri(Server.Url), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Engine.Dispose();
        _backend?.Dispose();
    }

    /// <summary>Waits until no request holds a slot (a disconnected client's generation has ended).</summary>
    public async Task WaitIdle()
    {
        for (int i = 0; i < 200 && (Server.Running > 0 || Server.QueueDepth > 0); i++) await Task.Delay(25);
        Assert.Equal(0, Server.Running);
        Assert.Equal(0, Server.QueueDepth);
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
