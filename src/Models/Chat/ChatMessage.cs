using System.Text.Json;

namespace SpecCore.Models.Chat;

/// <summary>One message of a conversation, as chat templates see it (<c>message.role</c>, <c>message.content</c>, ...).</summary>
/// <param name="Role">The speaker: <c>system</c>, <c>user</c>, <c>assistant</c> or <c>tool</c>.</param>
/// <param name="Content">The text; null renders as <c>None</c> (an assistant message that only calls tools).</param>
public sealed record ChatMessage(string Role, string? Content)
{
    /// <summary>The assistant's reasoning (Qwen3's <c>reasoning_content</c>); left out of the message when null.</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>The assistant's tool calls, a JSON array in OpenAI's shape
    /// (<c>[{"type": "function", "function": {"name": ..., "arguments": {...}}}]</c>); left out when null.</summary>
    public JsonElement? ToolCalls { get; init; }

    /// <summary>For a tool result: the id of the call it answers (<c>tool_call_id</c>); left out when null.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>An optional name (<c>name</c>) of the speaker or tool; left out when null.</summary>
    public string? Name { get; init; }
}
