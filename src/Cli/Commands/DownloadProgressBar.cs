using System.Diagnostics;
using System.Globalization;
using SpecCore.Models.Hub;

namespace SpecCore.Cli.Commands;

/// <summary>Draws one progress bar per downloaded file on a terminal (redrawn in place at most ten times a second), or
/// one line per finished file when the output is not a terminal.</summary>
internal sealed class DownloadProgressBar(TextWriter writer, bool interactive)
{
    private const int BarWidth = 30;
    private readonly Stopwatch _sinceDraw = Stopwatch.StartNew();
    private readonly Stopwatch _sinceStart = new();
    private string? _file;
    private long _startBytes;

    /// <summary>Takes one progress report.</summary>
    public void Report(DownloadProgress p)
    {
        if (p.File != _file)
        {
            _file = p.File;
            _startBytes = p.Received;
            _sinceStart.Restart();
        }
        if (p.Done)
        {
            writer.Write((interactive ? "\r" : "") + Line(p) + (interactive ? "\u001b[K" : "") + Environment.NewLine);
            _file = null;
            return;
        }
        if (!interactive || _sinceDraw.ElapsedMilliseconds < 100) return;
        _sinceDraw.Restart();
        writer.Write("\r" + Line(p) + "\u001b[K");
    }

    private string Line(DownloadProgress p)
    {
        double fraction = p.Total is long t && t > 0 ? Math.Min(1.0, (double)p.Received / t) : p.Done ? 1.0 : 0.0;
        int filled = (int)(fraction * BarWidth);
        double seconds = _sinceStart.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? (p.Received - _startBytes) / seconds : 0;
        string size = p.Total is long total ? $"{Mb(p.Received)}/{Mb(total)} MB" : $"{Mb(p.Received)} MB";
        return string.Format(CultureInfo.InvariantCulture, "{0,-36} [{1}{2}] {3,4:0}%  {4}  {5} MB/s",
            p.File, new string('#', filled), new string('.', BarWidth - filled), fraction * 100, size, Mb((long)rate));
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString(bytes < 10_000_000 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
}
