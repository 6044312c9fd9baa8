namespace SpecCore.Models.Chat;

/// <summary>
/// Chat template failures are <see cref="InvalidDataException"/>s (a sealed type) whose message reads
/// <c>[file: ]chat template line N: what</c>; the line and whether the template itself called
/// <c>raise_exception</c> travel in <see cref="Exception.Data"/> under <see cref="ChatTemplate.LineKey"/>
/// and <see cref="ChatTemplate.RaisedByTemplateKey"/>.
/// </summary>
internal static class ChatTemplateErrors
{
    public static InvalidDataException At(int line, string what, bool raisedByTemplate = false) =>
        Make($"chat template line {line}: {what}", line, raisedByTemplate);

    public static InvalidDataException WithSource(InvalidDataException e, string sourceName) =>
        Make($"{sourceName}: {e.Message}", Line(e), RaisedByTemplate(e));

    public static bool IsTemplateError(InvalidDataException e) => e.Data.Contains(ChatTemplate.LineKey);

    public static int Line(Exception e) => e.Data[ChatTemplate.LineKey] is int line ? line : 0;

    public static bool RaisedByTemplate(Exception e) => e.Data[ChatTemplate.RaisedByTemplateKey] is true;

    private static InvalidDataException Make(string message, int line, bool raisedByTemplate)
    {
        var e = new InvalidDataException(message);
        e.Data[ChatTemplate.LineKey] = line;
        e.Data[ChatTemplate.RaisedByTemplateKey] = raisedByTemplate;
        return e;
    }
}
