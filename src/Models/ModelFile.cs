namespace SpecCore.Models;

/// <summary>Opens the files of a model folder safely: symbolic links are followed to the file they name
/// (the Hugging Face cache stores every file as one), and only regular files are read. A FIFO, device or
/// folder is refused before it is opened, because opening a FIFO for reading blocks until a writer appears.</summary>
public static class ModelFile
{
    /// <summary>Largest JSON or tokenizer file read into memory (tokenizer.json of a 150k vocabulary is ~11 MB).</summary>
    public const long MaxTextFileBytes = 512L << 20;

    /// <summary>Whether <paramref name="path"/> names something (a file, a folder, a special file or a link, even a broken one).</summary>
    public static bool Exists(string path)
    {
        var info = new FileInfo(path);
        return info.Exists || info.LinkTarget != null || Directory.Exists(path);
    }

    /// <summary>Returns the regular file <paramref name="path"/> stands for (links followed) and its length.
    /// Throws <see cref="FileNotFoundException"/> when it does not exist and <see cref="InvalidDataException"/>
    /// naming the file when it is a broken link, a folder, or not a regular file (FIFO, socket, device: these
    /// report a length of 0 and are refused without being opened).</summary>
    public static (string Path, long Length) Resolve(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget != null)
        {
            FileSystemInfo? target;
            try
            {
                target = info.ResolveLinkTarget(returnFinalTarget: true);
            }
            catch (IOException e)
            {
                throw new InvalidDataException($"{path}: the symbolic link cannot be followed ({e.Message})");
            }
            if (target == null || !(File.Exists(target.FullName) || Directory.Exists(target.FullName)))
                throw new InvalidDataException($"{path}: symbolic link to '{info.LinkTarget}', which does not exist");
            info = new FileInfo(target.FullName);
        }
        if (Directory.Exists(info.FullName)) throw new InvalidDataException($"{path}: is a folder, not a file");
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found", path);
        // Regular files report their size; FIFOs, sockets and character devices report 0. An empty model file is
        // never valid, so a length of 0 is refused whatever it is, before any open() that could block.
        if (info.Length == 0) throw new InvalidDataException($"{path}: is empty or not a regular file (a FIFO, socket or device is refused)");
        return (info.FullName, info.Length);
    }

    /// <summary>Reads a whole regular file of at most <paramref name="maxBytes"/> bytes, after <see cref="Resolve"/>.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes = MaxTextFileBytes)
    {
        (string resolved, long length) = Resolve(path);
        if (length > maxBytes) throw new InvalidDataException($"{path}: is {length} bytes, more than the {maxBytes} accepted for this kind of file");
        using var stream = new FileStream(resolved, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var bytes = new byte[length];
        int read = 0;
        while (read < bytes.Length)
        {
            int n = stream.Read(bytes, read, bytes.Length - read);
            if (n == 0) throw new InvalidDataException($"{path}: the file shrank while it was read");
            read += n;
        }
        return bytes;
    }

    /// <summary>Reads a whole regular file that must be UTF-8 (a JSON file), refusing invalid UTF-8 with the file named.</summary>
    public static byte[] ReadUtf8(string path, long maxBytes = MaxTextFileBytes)
    {
        byte[] bytes = ReadAllBytes(path, maxBytes);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new InvalidDataException($"{path}: is not valid UTF-8 text");
        return bytes;
    }

    /// <summary>Reads a whole regular file as UTF-8 text; invalid UTF-8 is an error naming the file.</summary>
    public static string ReadAllText(string path, long maxBytes = MaxTextFileBytes)
    {
        byte[] bytes = ReadAllBytes(path, maxBytes);
        try
        {
            ReadOnlySpan<byte> span = bytes;
            if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
            return new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(span);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new InvalidDataException($"{path}: is not valid UTF-8 text");
        }
    }
}
