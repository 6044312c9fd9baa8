using System.CommandLine;

namespace SpecCore.Cli;

/// <summary>Parses and runs a command line; user errors become one line on stderr and exit code 2.</summary>
public static class CommandRunner
{
    /// <summary>Exit code for a user error (bad option, bad model file, prompt too long, ...).</summary>
    public const int UserErrorExitCode = 2;

    /// <summary>Runs <paramref name="root"/> on <paramref name="args"/> and returns the exit code. Errors go to
    /// <paramref name="error"/> and generated text to <paramref name="output"/> (default: the console's).</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? error = null, TextWriter? output = null)
    {
        error ??= Console.Error;
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            error.WriteLine(Line($"error: {InWords(parse.Errors[0].Message)} (see --help)"));
            return UserErrorExitCode;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = output ?? Console.Out });
        }
        catch (Exception e)
        {
            error.WriteLine(Line($"error: {Describe(e)}"));
            return UserErrorExitCode;
        }
    }

    /// <summary>Longest error line printed; longer messages are cut (their start names the file and field).</summary>
    public const int MaxErrorLineLength = 300;

    private static string Line(string text)
    {
        text = text.ReplaceLineEndings(" ");
        return text.Length <= MaxErrorLineLength ? text : string.Concat(text.AsSpan(0, MaxErrorLineLength - 3), "...");
    }

    /// <summary>Replaces the .NET type names of the parser's messages (<c>System.Nullable`1[System.Int32]</c>) with words.</summary>
    internal static string InWords(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"type '(?:System\.Nullable`1\[)?System\.(\w+)\]?'", m => m.Groups[1].Value switch
        {
            "Int32" or "Int64" or "Int16" => "an integer",
            "UInt64" or "UInt32" => "a non-negative integer",
            "Single" or "Double" or "Decimal" => "a number",
            "Boolean" => "true or false",
            "String" => "text",
            _ => "a " + m.Groups[1].Value.ToLowerInvariant(),
        }).Replace("as expected ", "as ", StringComparison.Ordinal);

    /// <summary>One line for an exception: the message for expected failures, with the type for unexpected ones.</summary>
    public static string Describe(Exception e)
    {
        while (e is AggregateException { InnerException: { } inner }) e = inner;
        string message = e.Message.ReplaceLineEndings(" ");
        return e is InvalidDataException or IOException or ArgumentException or NotSupportedException or InvalidOperationException
            or UnauthorizedAccessException or FormatException or Speculation.Generation.GenerationException or PlatformNotSupportedException
            ? message
            : $"{e.GetType().Name}: {message}";
    }
}
