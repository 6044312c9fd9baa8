using System.CommandLine;

namespace SpecCore.Cli;

/// <summary>Parses and runs a command line; user errors become one line on stderr and exit code 2.</summary>
public static class CommandRunner
{
    /// <summary>Exit code for a user error (bad option, bad model file, prompt too long, ...).</summary>
    public const int UserErrorExitCode = 2;

    /// <summary>Runs <paramref name="root"/> on <paramref name="args"/> and returns the exit code.</summary>
    public static int Run(RootCommand root, string[] args, TextWriter? error = null)
    {
        error ??= Console.Error;
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"error: {parse.Errors[0].Message} (see --help)");
            return UserErrorExitCode;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            error.WriteLine($"error: {Describe(e)}");
            return UserErrorExitCode;
        }
    }

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
