using System.IO.MemoryMappedFiles;
using System.Text.Json;
using SpecCore.Tensors;

namespace SpecCore.Models.Safetensors;

/// <summary>One memory-mapped <c>.safetensors</c> file with a validated header. Tensors are views into
/// the mapping (nothing is read into managed arrays); they stay valid until the file is disposed.</summary>
/// <remarks>Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
/// {dtype, shape, data_offsets: [begin, end)} relative to the data section that follows, and an
/// optional "__metadata__" object of strings.</remarks>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private readonly Dictionary<string, HostTensor> _tensors = new(StringComparer.Ordinal);

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePointer)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Tensors by name.</summary>
    public IReadOnlyDictionary<string, HostTensor> Tensors => _tensors;

    /// <summary>The optional "__metadata__" entries.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

    /// <summary>Maps and validates <paramref name="path"/>. Throws <see cref="InvalidDataException"/> naming
    /// the file, the tensor and the problem for any malformed header.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!ModelFile.Exists(path)) throw new FileNotFoundException($"{path}: safetensors file not found", path);
        // Map the file a link names, measured by its own length (the Hugging Face cache stores links).
        (string resolved, long fileLength) = ModelFile.Resolve(path);
        if (fileLength < 8) throw Error(path, $"file is {fileLength} bytes, too short for the 8-byte header length");

        MemoryMappedFile map = MemoryMappedFile.CreateFromFile(resolved, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            p += view.PointerOffset;
            var file = new SafetensorsFile(path, map, view, p);
            try
            {
                file.ParseHeader(fileLength);
            }
            catch
            {
                file.Dispose();
                throw;
            }
            return file;
        }
        catch
        {
            if (view == null) { map.Dispose(); }
            throw;
        }
    }

    private void ParseHeader(long fileLength)
    {
        ulong headerLength = *(ulong*)_base;
        if (headerLength == 0) throw Error(Path, "header length is 0");
        if (headerLength > (ulong)(fileLength - 8))
            throw Error(Path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes); the file is truncated or not safetensors");
        if (headerLength > 100_000_000) throw Error(Path, $"header length {headerLength} is implausibly large");
        // The header is a JSON object, padded with spaces at its end only.
        if (_base[8] != (byte)'{') throw Error(Path, $"header does not start with '{{' (byte 0x{_base[8]:X2}); not safetensors, or the header length field is wrong");
        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        if (!System.Text.Unicode.Utf8.IsValid(new ReadOnlySpan<byte>(_base + 8, (int)headerLength)))
            throw Error(Path, "header is not valid UTF-8; the file is damaged or the header length field is wrong");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(_base + 8, (int)headerLength).ToArray()));
        }
        catch (JsonException e)
        {
            throw Error(Path, $"header is not valid JSON ({Shorten(e.Message)})");
        }
        catch (ArgumentException)
        {
            throw Error(Path, "header is not valid UTF-8 JSON");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Error(Path, "header JSON is not an object");
            var ranges = new List<(long Begin, long End, string Name)>();
            foreach (JsonProperty entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    Metadata = ParseMetadata(entry.Value);
                    continue;
                }
                HostTensor t = ParseTensor(entry, dataStart, dataLength, out long begin, out long end);
                if (!_tensors.TryAdd(entry.Name, t)) throw Error(Path, $"tensor '{entry.Name}' appears twice");
                if (end > begin) ranges.Add((begin, end, entry.Name));
            }

            // The format's rules: the tensors' byte ranges are contiguous and cover the data section exactly, so
            // a header length that is off by any number of bytes, or bytes after the last tensor, are refused.
            ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            long covered = 0;
            for (int i = 0; i < ranges.Count; i++)
            {
                if (ranges[i].Begin < covered)
                    throw Error(Path, $"tensors '{Shorten(ranges[i - 1].Name)}' [{ranges[i - 1].Begin}, {ranges[i - 1].End}) and '{Shorten(ranges[i].Name)}' [{ranges[i].Begin}, {ranges[i].End}) overlap");
                if (ranges[i].Begin > covered)
                    throw Error(Path, $"{ranges[i].Begin - covered} bytes before tensor '{Shorten(ranges[i].Name)}' (at {covered} of the data section) belong to no tensor; the header length or data_offsets are wrong");
                covered = ranges[i].End;
            }
            if (covered != dataLength)
                throw Error(Path, $"the tensors end at byte {covered} of the data section but it holds {dataLength} bytes ({dataLength - covered} trailing bytes); the header length field (N = {headerLength}) or data_offsets are wrong, or bytes were appended");
        }
    }

    private Dictionary<string, string> ParseMetadata(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Error(Path, "__metadata__ is not an object");
        var result = new Dictionary<string, string>();
        foreach (JsonProperty p in value.EnumerateObject())
            result[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        return result;
    }

    private HostTensor ParseTensor(JsonProperty entry, long dataStart, long dataLength, out long begin, out long end)
    {
        string name = entry.Name;
        JsonElement v = entry.Value;
        name = Shorten(name);
        if (v.ValueKind != JsonValueKind.Object) throw Error(Path, $"tensor '{name}': entry is not an object");

        if (!v.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error(Path, $"tensor '{name}': missing string field 'dtype'");
        string dtypeName = dtypeElement.GetString()!;
        DType dtype = DTypeInfo.FromSafetensorsName(dtypeName)
            ?? throw Error(Path, $"tensor '{name}': dtype '{Shorten(dtypeName)}' is not supported (supported: F32, F16, BF16, I64, BOOL)");

        if (!v.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error(Path, $"tensor '{name}': missing array field 'shape'");
        int rank = shapeElement.GetArrayLength();
        if (rank > MaxRank) throw Error(Path, $"tensor '{name}': shape has {rank} dimensions, more than the {MaxRank} accepted");
        var shape = new int[rank];
        long elements = 1;
        int k = 0;
        foreach (JsonElement d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw Error(Path, $"tensor '{name}': shape entry {Shorten(d.GetRawText())} is not a non-negative integer below 2^31");
            shape[k++] = (int)dim;
            // Every element takes at least one byte, so a product past the data section is a lie; checking here
            // also keeps the product far from overflowing a long.
            if (dim != 0 && elements > dataLength / dim)
                throw Error(Path, $"tensor '{name}': shape {ShapeText(shape.AsSpan(0, k))}... needs more bytes than the data section's {dataLength}");
            elements *= dim;
        }

        if (!v.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Error(Path, $"tensor '{name}': 'data_offsets' must be an array [begin, end]");
        if (!offsets[0].TryGetInt64(out begin) || !offsets[1].TryGetInt64(out end))
            throw Error(Path, $"tensor '{name}': data_offsets {Shorten(offsets.GetRawText())} are not integers");
        if (begin < 0 || end < begin)
            throw Error(Path, $"tensor '{name}': data_offsets [{begin}, {end}) are not an increasing range");
        if (end > dataLength)
            throw Error(Path, $"tensor '{name}': data_offsets [{begin}, {end}) run past the data section ({dataLength} bytes); the file is truncated or the header lies");
        long expected = dtype.ByteSize(elements);
        if (end - begin != expected)
            throw Error(Path, $"tensor '{name}': shape {ShapeText(shape)} of {dtypeName} needs {expected} bytes but data_offsets span {end - begin}");

        return new HostTensor(name, dtype, shape, (nint)(_base + dataStart + begin), end - begin);
    }

    /// <summary>Most dimensions a tensor may have.</summary>
    public const int MaxRank = 8;

    internal static InvalidDataException Error(string path, string message) => new($"{path}: {message}");

    /// <summary>A shape as <c>[a, b, c]</c>, at most 8 dimensions written out.</summary>
    internal static string ShapeText(ReadOnlySpan<int> shape) =>
        shape.Length <= 8 ? $"[{string.Join(", ", shape.ToArray())}]" : $"[{string.Join(", ", shape[..8].ToArray())}, ... ({shape.Length} dimensions)]";

    /// <summary>A name or value cut to 60 characters for an error line.</summary>
    internal static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");

    /// <inheritdoc />
    public void Dispose()
    {
        if (_base != null)
        {
            _view?.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
