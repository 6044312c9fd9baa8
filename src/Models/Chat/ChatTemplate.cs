using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SpecCore.Models.Chat;

/// <summary>
/// A model's chat template: the Jinja text of <c>tokenizer_config.json</c>'s <c>chat_template</c>, parsed
/// once and rendered as Hugging Face's <c>apply_chat_template</c> renders it (trim_blocks and lstrip_blocks
/// on, <c>raise_exception</c>, <c>strftime_now</c>, <c>tojson</c> as <c>json.dumps(ensure_ascii=False)</c>).
/// The interpreter covers a subset of Jinja; anything outside it fails at load time, or at render time for
/// unknown functions and methods, with the template line in the message.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The <see cref="Exception.Data"/> key of a template error's 1-based line (an int).</summary>
    public const string LineKey = "ChatTemplateLine";

    /// <summary>The <see cref="Exception.Data"/> key that is true when the template called <c>raise_exception</c>.</summary>
    public const string RaisedByTemplateKey = "ChatTemplateRaisedByTemplate";

    private readonly List<JinjaNode> _template;

    private ChatTemplate(List<JinjaNode> template, string source, string? sourceName, IReadOnlyDictionary<string, string> specialTokens)
    {
        _template = template;
        Source = source;
        SourceName = sourceName;
        SpecialTokens = specialTokens;
    }

    /// <summary>The template text.</summary>
    public string Source { get; }

    /// <summary>The file the template was read from, or null.</summary>
    public string? SourceName { get; }

    /// <summary>The special-token variables the template sees (<c>bos_token</c>, <c>eos_token</c>, ...), by variable name.</summary>
    public IReadOnlyDictionary<string, string> SpecialTokens { get; }

    /// <summary>Parses a template text.</summary>
    /// <param name="template">The Jinja source.</param>
    /// <param name="bosToken">The text of <c>bos_token</c>, or null to leave it undefined.</param>
    /// <param name="eosToken">The text of <c>eos_token</c>, or null to leave it undefined.</param>
    /// <exception cref="InvalidDataException">A syntax error or an unsupported construct; the message names the line.</exception>
    public static ChatTemplate Parse(string template, string? bosToken = null, string? eosToken = null)
    {
        var tokens = new Dictionary<string, string>();
        if (bosToken != null) tokens["bos_token"] = bosToken;
        if (eosToken != null) tokens["eos_token"] = eosToken;
        return new ChatTemplate(JinjaParser.Parse(template), template, null, tokens);
    }

    /// <summary>
    /// Reads the chat template of a Hugging Face model folder: <c>tokenizer_config.json</c>'s <c>chat_template</c>
    /// (a string, or a list of <c>{name, template}</c> of which the one named <c>default</c> is taken), else a
    /// <c>chat_template.jinja</c> file; plus the special tokens (<c>bos_token</c>, <c>eos_token</c>, <c>unk_token</c>,
    /// <c>pad_token</c>) the template may reference.
    /// </summary>
    /// <param name="modelDirectory">The model folder.</param>
    /// <exception cref="FileNotFoundException">The folder has no <c>tokenizer_config.json</c>.</exception>
    /// <exception cref="InvalidDataException">No chat template, invalid JSON, or 
    /// a template the interpreter cannot parse; the message names the file and the template line.</exception>
    public static ChatTemplate Load(string modelDirectory)
    {
        string configPath = Path.Combine(modelDirectory, "tokenizer_config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath} not found", configPath);
        string? template;
        string sourceName = configPath;
        var specialTokens = new Dictionary<string, string>();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{configPath}: expected a JSON object");
            foreach (string name in (string[])["bos_token", "eos_token", "unk_token", "pad_token"])
                if (ReadToken(root, name) is string text) specialTokens[name] = text;
            template = ReadTemplate(root, configPath);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath}: invalid JSON: {e.Message}", e);
        }
        string jinjaPath = Path.Combine(modelDirectory, "chat_template.jinja");
        if (template == null && File.Exists(jinjaPath))
        {
            template = File.ReadAllText(jinjaPath);
            sourceName = jinjaPath;
        }
        if (template == null) throw new InvalidDataException($"{configPath}: no chat_template (and no chat_template.jinja beside it)");
        try
        {
            return new ChatTemplate(JinjaParser.Parse(template), template, sourceName, specialTokens);
        }
        catch (InvalidDataException e) when (ChatTemplateErrors.IsTemplateError(e))
        {
            throw ChatTemplateErrors.WithSource(e, sourceName);
        }
    }

    /// <summary>Renders a conversation to the prompt text.</summary>
    /// <param name="messages">The conversation (<c>messages</c>).</param>
    /// <param name="addGenerationPrompt">Append the header that starts the assistant's turn (<c>add_generation_prompt</c>).</param>
    /// <param name="options">Tools, <c>enable_thinking</c>, extra variables and the clock; null for none.</param>
    /// <returns>The prompt, special tokens as text.</returns>
    /// <exception cref="InvalidDataException">The template failed: the message names the line, and the file when loaded
    /// from one; <c>Data[</c><see cref="RaisedByTemplateKey"/><c>]</c> is true for the template's own <c>raise_exception</c>
    /// (a conversation the template refuses, such as roles that do not alternate), false for an interpreter limit.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        DateTime now = options?.Now ?? DateTime.Now;
        var vars = new Dictionary<string, TemplateValue>
        {
            ["messages"] = TemplateValue.FromList(messages.Select(ToValue).ToList()),
            ["add_generation_prompt"] = TemplateValue.FromBool(addGenerationPrompt),
            ["tools"] = options?.Tools is JsonElement tools ? TemplateJson.FromJson(tools) : TemplateValue.None,
            ["documents"] = TemplateValue.None,
            ["raise_exception"] = TemplateValue.FromFunction((args, _) =>
                throw new TemplateError(args.Count > 0 ? args[0].ToString() : "raise_exception", raisedByTemplate: true)),
            ["strftime_now"] = TemplateValue.FromFunction((args, _) =>
                TemplateValue.FromString(Strftime(args.Count > 0 && args[0].Kind == TemplateKind.String ? args[0].AsString
                    : throw new TemplateError("strftime_now needs a format string"), now))),
            ["namespace"] = TemplateValue.FromFunction((args, kwargs) => MakeDict(args, kwargs, isNamespace: true)),
            ["dict"] = TemplateValue.FromFunction((args, kwargs) => MakeDict(args, kwargs, isNamespace: false)),
            ["range"] = TemplateValue.FromFunction(Range),
        };
        foreach (var (name, text) in SpecialTokens) vars[name] = TemplateValue.FromString(text);
        if (options?.EnableThinking is bool thinking) vars["enable_thinking"] = TemplateValue.FromBool(thinking);
        if (options?.Variables != null)
            foreach (var (name, value) in options.Variables) vars[name] = TemplateJson.FromJson(value);
        try
        {
            return JinjaInterpreter.Render(_template, vars);
        }
        catch (InvalidDataException e) when (SourceName != null && ChatTemplateErrors.IsTemplateError(e))
        {
            throw ChatTemplateErrors.WithSource(e, SourceName);
        }
    }

    private static TemplateValue ToValue(ChatMessage m)
    {
        var d = new OrderedDictionary<string, TemplateValue>
        {
            ["role"] = TemplateValue.FromString(m.Role),
            ["content"] = m.Content == null ? TemplateValue.None : TemplateValue.FromString(m.Content),
        };
        if (m.ReasoningContent != null) d["reasoning_content"] = TemplateValue.FromString(m.ReasoningContent);
        if (m.ToolCalls is JsonElement calls) d["tool_calls"] = TemplateJson.FromJson(calls);
        if (m.ToolCallId != null) d["tool_call_id"] = TemplateValue.FromString(m.ToolCallId);
        if (m.Name != null) d["name"] = TemplateValue.FromString(m.Name);
        return TemplateValue.FromDict(d);
    }

    private static string? ReadToken(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out JsonElement v)) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        return null;
    }

    private static string? ReadTemplate(JsonElement root, string path)
    {
        if (!root.TryGetProperty("chat_template", out JsonElement t) || t.ValueKind == JsonValueKind.Null) return null;
        if (t.ValueKind == JsonValueKind.String) return t.GetString();
        if (t.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: 'chat_template' must be a string or a list of {{name, template}}");
        var names = new List<string>();
        foreach (JsonElement entry in t.EnumerateArray())
        {
            if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String
                && entry.TryGetProperty("template", out JsonElement body) && body.ValueKind == JsonValueKind.String)
            {
                if (n.GetString() == "default") return body.GetString();
                names.Add(n.GetString()!);
            }
            else throw new InvalidDataException($"{path}: each 'chat_template' entry must have string 'name' and 'template'");
        }
        throw new InvalidDataException($"{path}: 'chat_template' has no template named 'default' (it has: {string.Join(", ", names)})");
    }

    private static TemplateValue MakeDict(IReadOnlyList<TemplateValue> args, IReadOnlyDictionary<string, TemplateValue> kwargs, bool isNamespace)
    {
        var d = new OrderedDictionary<string, TemplateValue>();
        foreach (TemplateValue a in args)
        {
            if (a.Kind != TemplateKind.Dict) throw new TemplateError($"{(isNamespace ? "namespace" : "dict")}() takes a mapping, got {a.TypeName}");
            foreach (var (k, v) in a.AsDict) d[k] = v;
        }
        foreach (var (k, v) in kwargs) d[k] = v;
        return TemplateValue.FromDict(d, isNamespace);
    }

    private static TemplateValue Range(IReadOnlyList<TemplateValue> args, IReadOnlyDictionary<string, TemplateValue> kwargs)
    {
        if (args.Count is < 1 or > 3 || args.Any(a => a.Kind is not (TemplateKind.Int or TemplateKind.Bool)))
            throw new TemplateError("range() takes 1 to 3 integers");
        long start = args.Count > 1 ? args[0].AsInt : 0, stop = args.Count > 1 ? args[1].AsInt : args[0].AsInt, step = args.Count > 2 ? args[2].AsInt : 1;
        if (step == 0) throw new TemplateError("range() step must not be zero");
        var items = new List<TemplateValue>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (items.Count >= 100_000) throw new TemplateError("range() is limited to 100000 items");
            items.Add(TemplateValue.FromInt(i));
        }
        return TemplateValue.FromList(items);
    }

    /// <summary>Python's <c>datetime.strftime</c> for the common C directives (and glibc's <c>%-d</c> style no-padding).</summary>
    internal static string Strftime(string format, DateTime t)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            bool noPad = false;
            if (c == '-' && i + 1 < format.Length) { noPad = true; c = format[++i]; }
            string Num(int v, int width) => noPad ? v.ToString(ci) : v.ToString(new string('0', width), ci);
            sb.Append(c switch
            {
                'd' => Num(t.Day, 2),
                'm' => Num(t.Month, 2),
                'Y' => t.Year.ToString(ci),
                'y' => Num(t.Year % 100, 2),
                'H' => Num(t.Hour, 2),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'b' => t.ToString("MMM", ci),
                'B' => t.ToString("MMMM", ci),
                'a' => t.ToString("ddd", ci),
                'A' => t.ToString("dddd", ci),
                'j' => Num(t.DayOfYear, 3),
                'e' => t.Day.ToString(ci).PadLeft(2),
                '%' => "%",
                _ => throw new TemplateError($"unsupported strftime directive '%{c}'"),
            });
        }
        return sb.ToString();
    }
}
