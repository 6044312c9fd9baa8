using System.CommandLine;
using System.Globalization;
using SpecCore.Engine;
using SpecCore.Kernels;
using SpecCore.Models.Chat;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore chat</c>: an interactive terminal chat that keeps the KV cache between turns.</summary>
public static class ChatCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var engineArgs = new EngineArguments();
        var requestArgs = new RequestArguments();
        var system = new Option<string?>("--system", "-s") { Description = "System prompt that opens the conversation." };
        var command = new Command("chat",
            "Chat with a model in the terminal: type a message and press Enter; the reply streams back. The conversation is " +
            "rendered with the model's chat template (tokenizer_config.json) and its KV cache is kept between turns, so each turn " +
            "only runs its new tokens. Commands: /reset (new conversation), /system TEXT (set the system prompt and reset), " +
            "/exit. Input may be piped on stdin, one message per line.");
        command.Options.Add(system);
        requestArgs.AddTo(command);
        engineArgs.AddTo(command);
        command.SetAction(parse => Run(parse, engineArgs, requestArgs, parse.GetValue(system)));
        return command;
    }

    private static int Run(ParseResult parse, EngineArguments engineArgs, RequestArguments requestArgs, string? systemPrompt)
    {
        CompletionRequest request = requestArgs.Read(parse);
        if (request.MaxTokens == 0) request = request with { MaxTokens = 128 };
        EngineOptions options = engineArgs.Read(parse);
        using IBackend backend = engineArgs.CreateBackend(parse);
        using var engine = InferenceEngine.Load(options, backend);
        EngineArguments.PrintLoaded(engine, backend);
        if (!engine.HasChatTemplate)
            Console.Error.WriteLine($"note: no usable chat template ({engine.ChatTemplateProblem}); turns are written as 'User: ...' / 'Assistant: ...' lines");

        var stdout = parse.InvocationConfiguration.Output;
        TextReader input = Console.In;
        bool interactive = !Console.IsInputRedirected;
        if (interactive) Console.Error.WriteLine("type a message, /reset, /system TEXT or /exit");

        using EngineSession session = engine.OpenSession();
        var messages = new List<ChatMessage>();
        void Reset()
        {
            messages.Clear();
            if (!string.IsNullOrEmpty(systemPrompt)) messages.Add(new ChatMessage("system", systemPrompt));
        }
        Reset();

        while (true)
        {
            if (interactive) Console.Error.Write("> ");
            string? line = input.ReadLine();
            if (line == null) break;
            line = line.Trim();
            if (line.Length == 0) continue;
            if (line is "/exit" or "/quit") break;
            if (line == "/reset")
            {
                Reset();
                Console.Error.WriteLine("(new conversation)");
                continue;
            }
            if (line.StartsWith("/system", StringComparison.Ordinal))
            {
                systemPrompt = line["/system".Length..].Trim();
                Reset();
                Console.Error.WriteLine(systemPrompt.Length > 0 ? "(system prompt set; new conversation)" : "(system prompt cleared; new conversation)");
                continue;
            }
            if (line.StartsWith('/'))
            {
                Console.Error.WriteLine($"unknown command {line.Split(' ')[0]} (expected /reset, /system TEXT or /exit)");
                continue;
            }

            messages.Add(new ChatMessage("user", line));
            int[] prompt = session.EncodeChat(messages);
            if (prompt.Length + 1 > engine.Capacity)
            {
                messages.RemoveAt(messages.Count - 1);
                Console.Error.WriteLine($"error: the conversation has {prompt.Length} tokens but the context holds {engine.Capacity}; /reset to start again (or a larger --ctx-size)");
                continue;
            }
            CompletionResult result = session.Complete(prompt, request with { MaxTokens = Math.Min(request.MaxTokens, engine.Capacity - prompt.Length), IsChatReply = true },
                piece => { stdout.Write(piece); stdout.Flush(); });
            stdout.WriteLine();
            stdout.Flush();
            messages.Add(new ChatMessage("assistant", result.Text.Trim()));
            var s = result.Stats;
            Console.Error.WriteLine(string.Format(CultureInfo.InvariantCulture, "[{0} new prompt tokens ({1} cached), {2} tokens at {3:F1} tok/s{4}]",
                prompt.Length - result.Usage.CachedPromptTokens, result.Usage.CachedPromptTokens, result.Usage.CompletionTokens, s.DecodeTokensPerSecond,
                s.Drafter != null ? string.Format(CultureInfo.InvariantCulture, ", acceptance {0:P0}", s.AcceptanceRate) : ""));
        }
        return 0;
    }
}
