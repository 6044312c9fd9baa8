using System.Text;
using SpecCore.Models.Chat;

namespace SpecCore.Engine;

/// <summary>The chat format of a model without a chat template (a base model such as TinyStories): one
/// <c>Role: text</c> line per message and an open <c>Assistant:</c> line, ended by the stop string <see cref="Stop"/>.</summary>
internal static class PlainTranscript
{
    /// <summary>Where the reply ends: the model starts the user's next line.</summary>
    public const string Stop = "\nUser:";

    public static string Render(IReadOnlyList<ChatMessage> messages)
    {
        var text = new StringBuilder();
        foreach (ChatMessage m in messages)
        {
            string role = m.Role.Length == 0 ? "User" : char.ToUpperInvariant(m.Role[0]) + m.Role[1..];
            text.Append(role).Append(": ").Append(m.Content ?? "").Append('\n');
        }
        return text.Append("Assistant:").ToString();
    }
}
