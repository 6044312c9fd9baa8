using System.Text.Json;
using SpecCore.Engine;
using SpecCore.Models.Chat;

namespace SpecCore.Server;

/// <summary>A parsed <c>/v1/completions</c> or <c>/v1/chat/completions</c> body.</summary>
internal sealed class ApiRequest
{
    /// <summary>The model id the client asked for, or null.</summary>
    public string? Model { get; private init; }
    /// <summary>Answer as server-sent events.</summary>
    public bool Stream { get; private init; }
    /// <summary><c>stream_options.include_usage</c>: a last chunk with the usage.</summary>
    public bool IncludeUsage { get; private init; }
    /// <summary>Length, sampling and stops; MaxTokens is null when the client gave none.</summary>
    public required CompletionRequest Request { get; init; }
    /// <summary>Whether the client gave max_tokens.</summary>
    public bool HasMaxTokens { get; private init; }
    /// <summary>The conversation (chat), or null.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; private init; }
    /// <summary>The prompt text (completions), or null when given as token ids.</summary>
    public string? Prompt { get; private init; }
    /// <summary>The prompt as token ids (completions), or null.</summary>
    public int[]? PromptTokens { get; private init; }

    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary>Parses and checks a request body; every problem is an <see cref="ApiError"/> naming the field.</summary>
    public static ApiRequest Parse(ReadOnlySpan<byte> body, bool chat)
    {
        // JSON text must be UTF-8 (RFC 8259); checked up front, since a string of invalid bytes would only fail when read.
        if (!System.Text.Unicode.Utf8.IsValid(body)) throw new ApiError(400, "the body is not valid UTF-8", code: "invalid_json");
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
            doc = JsonDocument.ParseValue(ref reader);
            if (reader.Read()) throw new JsonException("more data after the JSON value");
        }
        catch (JsonException e)
        {
            throw new ApiError(400, $"the body is not valid JSON: {e.Message}", code: "invalid_json");
        }
        try
        {
            return Read(doc, chat);
        }
        catch (InvalidOperationException e)
        {
            // JsonElement.GetString refuses escapes that are not Unicode (a lone \ud800).
            throw new ApiError(400, $"the body has a string that is not valid Unicode: {e.Message}", code: "invalid_json");
        }
        finally
        {
            doc.Dispose();
        }
    }

    private static ApiRequest Read(JsonDocument doc, bool chat)
    {
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ApiError(400, "the body must be a JSON object");
        string? model = OptionalString(root, "model");
        bool stream = OptionalBool(root, "stream") ?? false;
        bool includeUsage = false;
        if (root.TryGetProperty("stream_options", out JsonElement so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object) throw Type("stream_options", "an object");
            includeUsage = OptionalBool(so, "include_usage", "stream_options.include_usage") ?? false;
        }
        if (OptionalInt(root, "n") is long n && n != 1) throw new ApiError(400, $"'n' must be 1 (one choice per request), got {n}", "n");
        if (OptionalBool(root, "echo") == true) throw new ApiError(400, "'echo' is not supported", "echo");
        if (root.TryGetProperty("logprobs", out JsonElement lp) && lp.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
            throw new ApiError(400, "'logprobs' is not supported", "logprobs");
        foreach (string penalty in (string[])["presence_penalty", "frequency_penalty"])
            if (OptionalNumber(root, penalty) is double p && p != 0) throw new ApiError(400, $"'{penalty}' is not supported (only 0)", penalty);

        long? maxTokens = OptionalInt(root, "max_completion_tokens") ?? OptionalInt(root, "max_tokens");
        string maxName = root.TryGetProperty("max_completion_tokens", out _) ? "max_completion_tokens" : "max_tokens";
        if (maxTokens is long m && m < 1) throw new ApiError(400, $"'{maxName}' must be at least 1, got {m}", maxName);
        double temperature = OptionalNumber(root, "temperature") ?? 1.0;
        if (!(temperature >= 0 && temperature <= 2)) throw new ApiError(400, $"'temperature' must be between 0 and 2, got {temperature}", "temperature");
        double topP = OptionalNumber(root, "top_p") ?? 1.0;
        if (!(topP > 0 && topP <= 1)) throw new ApiError(400, $"'top_p' must be in (0, 1], got {topP}", "top_p");
        long topK = OptionalInt(root, "top_k") ?? 0;
        if (topK < 0 || topK > int.MaxValue) throw new ApiError(400, $"'top_k' must be a non-negative integer, got {topK}", "top_k");
        long? seed = OptionalInt(root, "seed");

        var request = new CompletionRequest
        {
            MaxTokens = (int)Math.Min(maxTokens ?? int.MaxValue, int.MaxValue),
            Temperature = (float)temperature,
            TopP = (float)topP,
            TopK = (int)topK,
            Seed = seed is long s ? unchecked((ulong)s) : (ulong)Random.Shared.NextInt64(),
            Stop = Stops(root),
            IsChatReply = chat,
        };
        if (chat)
            return new ApiRequest { Model = model, Stream = stream, IncludeUsage = includeUsage, Request = request, HasMaxTokens = maxTokens != null, Messages = ReadMessages(root) };
        (string? text, int[]? tokens) = ReadPrompt(root);
        return new ApiRequest { Model = model, Stream = stream, IncludeUsage = includeUsage, Request = request, HasMaxTokens = maxTokens != null, Prompt = text, PromptTokens = tokens };
    }

    private static List<ChatMessage> ReadMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out JsonElement list)) throw new ApiError(400, "'messages' is required", "messages");
        if (list.ValueKind != JsonValueKind.Array) throw Type("messages", "an array");
        if (list.GetArrayLength() == 0) throw new ApiError(400, "'messages' must have at least one message", "messages");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (JsonElement m in list.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw Type(at, "an object");
            if (!m.TryGetProperty("role", out JsonElement role)) throw new ApiError(400, $"'{at}.role' is required", at + ".role");
            if (role.ValueKind != JsonValueKind.String) throw Type(at + ".role", "a string");
            string r = role.GetString()!;
            if (Array.IndexOf(Roles, r) < 0) throw new ApiError(400, $"'{at}.role' must be one of {string.Join(", ", Roles)}, got '{Short(r)}'", at + ".role");
            if (r == "developer") r = "system";
            string? content = null;
            if (m.TryGetProperty("content", out JsonElement c))
            {
                content = c.ValueKind switch
                {
                    JsonValueKind.String => c.GetString(),
                    JsonValueKind.Null => null,
                    JsonValueKind.Array => TextParts(c, at + ".content"),
                    _ => throw Type(at + ".content", "a string or an array of text parts"),
                };
            }
            if (content == null && r != "assistant") throw new ApiError(400, $"'{at}.content' is required", at + ".content");
            messages.Add(new ChatMessage(r, content ?? ""));
        }
        return messages;
    }

    private static string TextParts(JsonElement parts, string at)
    {
        var text = new System.Text.StringBuilder();
        int i = 0;
        foreach (JsonElement part in parts.EnumerateArray())
        {
            string p = $"{at}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object) throw Type(p, "an object");
            string? type = OptionalString(part, "type", p + ".type");
            if (type != "text") throw new ApiError(400, $"'{p}.type' must be 'text' (this model reads text only), got '{Short(type ?? "")}'", p + ".type");
            text.Append(OptionalString(part, "text", p + ".text") ?? throw new ApiError(400, $"'{p}.text' is required", p + ".text"));
        }
        return text.ToString();
    }

    private static (string?, int[]?) ReadPrompt(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out JsonElement p)) throw new ApiError(400, "'prompt' is required", "prompt");
        if (p.ValueKind == JsonValueKind.String) return (p.GetString(), null);
        if (p.ValueKind != JsonValueKind.Array) throw Type("prompt", "a string, an array of token ids, or an array of one of those");
        int count = p.GetArrayLength();
        if (count == 0) throw new ApiError(400, "'prompt' must not be empty", "prompt");
        JsonElement first = p[0];
        if (first.ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            if (count != 1) throw new ApiError(400, "'prompt' may hold one prompt per request (n = 1)", "prompt");
            return first.ValueKind == JsonValueKind.String ? (first.GetString(), null) : (null, Tokens(first));
        }
        return (null, Tokens(p));
    }

    private static int[] Tokens(JsonElement array)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement t in array.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id) || id < 0) throw new ApiError(400, $"'prompt[{i}]' must be a non-negative token id", "prompt");
            ids[i++] = id;
        }
        return ids;
    }

    private static string[] Stops(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out JsonElement stop) || stop.ValueKind == JsonValueKind.Null) return [];
        if (stop.ValueKind == JsonValueKind.String)
            return stop.GetString() is { Length: > 0 } one ? [one] : throw new ApiError(400, "'stop' must not be an empty string", "stop");
        if (stop.ValueKind != JsonValueKind.Array) throw Type("stop", "a string or an array of strings");
        if (stop.GetArrayLength() > 4) throw new ApiError(400, "'stop' may hold at most 4 strings", "stop");
        var stops = new List<string>();
        foreach (JsonElement s in stop.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.String) throw Type("stop", "a string or an array of strings");
            if (s.GetString() is not { Length: > 0 } text) throw new ApiError(400, "'stop' must not hold an empty string", "stop");
            stops.Add(text);
        }
        return stops.ToArray();
    }

    private static string? OptionalString(JsonElement obj, string name, string? shown = null)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Type(shown ?? name, "a string");
    }

    private static bool? OptionalBool(JsonElement obj, string name, string? shown = null)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Type(shown ?? name, "true or false") };
    }

    private static double? OptionalNumber(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) ? d : throw Type(name, "a number");
    }

    private static long? OptionalInt(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : throw Type(name, "an integer");
    }

    private static ApiError Type(string name, string expected) => new(400, $"'{name}' must be {expected}", name);

    private static string Short(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
