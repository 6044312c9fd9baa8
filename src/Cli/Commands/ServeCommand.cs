using System.CommandLine;
using SpecCore.Engine;
using SpecCore.Kernels;
using SpecCore.Server;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore serve</c>: the OpenAI-compatible HTTP server.</summary>
public static class ServeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var engineArgs = new EngineArguments();
        var host = new Option<string>("--host") { Description = "Address to listen on: 127.0.0.1 (the default: only this machine), ::1, 0.0.0.0 (every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port, printed at start).", DefaultValueFactory = _ => 8080 };
        var slots = new Option<int>("--slots") { Description = "Requests generating at once, each with its own KV cache of --ctx-size tokens; more wait in a queue and take turns fairly.", DefaultValueFactory = _ => 4 };
        var queue = new Option<int>("--max-queue") { Description = "Requests that may wait for a slot; beyond that the server answers 503.", DefaultValueFactory = _ => 64 };
        var maxBody = new Option<long>("--max-body") { HelpName = "bytes", Description = "Largest request body; a larger one is answered 413.", DefaultValueFactory = _ => 1L << 20 };
        var alias = new Option<string?>("--alias") { Description = "Model id that clients send and /v1/models lists (default: the model folder's name)." };
        var command = new Command("serve",
            "Serve the model over an OpenAI-compatible HTTP API: GET /v1/models, POST /v1/completions, POST /v1/chat/completions " +
            "(stream: true for server-sent events), GET /health, GET /metrics (Prometheus), and a chat page at /. Speculative " +
            "decoding options apply to every request. Stop with Ctrl+C.");
        command.Options.Add(host);
        command.Options.Add(port);
        command.Options.Add(slots);
        command.Options.Add(queue);
        command.Options.Add(maxBody);
        command.Options.Add(alias);
        engineArgs.AddTo(command);
        command.SetAction(async (parse, cancellation) =>
        {
            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Slots = parse.GetValue(slots),
                MaxQueue = parse.GetValue(queue) is int q and >= 0 ? q : throw new ArgumentException("--max-queue must be ≥ 0"),
                MaxBodyBytes = parse.GetValue(maxBody) is long b and >= 1024 ? b : throw new ArgumentException("--max-body must be at least 1024 bytes"),
                ModelId = parse.GetValue(alias),
            };
            if (options.Slots is < 1 or > 256) throw new ArgumentException($"--slots must be 1 to 256, got {options.Slots}");
            if (options.Port is < 0 or > 65535) throw new ArgumentException($"--port must be 0 to 65535, got {options.Port}");
            EngineOptions engineOptions = engineArgs.Read(parse);
            using IBackend backend = engineArgs.CreateBackend(parse);
            using var engine = InferenceEngine.Load(engineOptions, backend);
            EngineArguments.PrintLoaded(engine, backend);
            await using OpenAiServer server = await OpenAiServer.StartAsync(engine, options);
            Console.Error.WriteLine($"serving {options.ModelId ?? engine.Name} at {server.Url} ({options.Slots} slots, context {engine.Capacity} tokens{(engine.IsSpeculative ? ", drafter " + engine.DrafterName : "")}); chat page at {server.Url}/");
            await server.WaitForShutdownAsync(cancellation);
            return 0;
        });
        return command;
    }
}
