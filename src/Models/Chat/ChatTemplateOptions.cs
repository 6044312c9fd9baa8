using System.Text.Json;

namespace SpecCore.Models.Chat;

/// <summary>Inputs to <see cref="ChatTemplate.Render"/> besides the messages.</summary>
public sealed class ChatTemplateOptions
{
    /// <summary>The tools the model may call, a JSON array of tool definitions
    /// (<c>[{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}]</c>).
    /// When null the template sees <c>tools</c> as none, as Hugging Face passes it.</summary>
    public JsonElement? Tools { get; init; }

    /// <summary>Qwen3's <c>enable_thinking</c>; when null the variable is left undefined (thinking on).</summary>
    public bool? EnableThinking { get; init; }

    /// <summary>Further template variables (<c>apply_chat_template</c>'s extra keyword arguments); they override the defaults.</summary>
    public IReadOnlyDictionary<string, JsonElement>? Variables { get; init; }

    /// <summary>The date and time <c>strftime_now</c> formats (Llama 3.2 puts today's date in its system message);
    /// null means the local time when rendering.</summary>
    public DateTime? Now { get; init; }
}
