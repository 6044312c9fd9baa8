using System.Runtime.InteropServices;
using System.Text.Json;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>Writes a safetensors file of F32/BF16 floats, I64 and BOOL tensors (heads and training state): tensors in
/// the order added, the header padded with spaces to a multiple of 8 bytes.</summary>
internal sealed class HeadFileWriter
{
    private readonly List<(string Name, string DType, int[] Shape, byte[] Data)> _tensors = new();

    /// <summary>Adds floats stored as F32, or as BF16 (round to nearest even) when <paramref name="bf16"/>.</summary>
    public void Add(string name, ReadOnlySpan<float> values, int[] shape, bool bf16 = false)
    {
        Check(name, values.Length, shape);
        if (!bf16) { _tensors.Add((name, "F32", shape, MemoryMarshal.AsBytes(values).ToArray())); return; }
        var half = new ushort[values.Length];
        for (int i = 0; i < half.Length; i++) half[i] = FloatConversion.FloatToBF16(values[i]);
        _tensors.Add((name, "BF16", shape, MemoryMarshal.AsBytes(half.AsSpan()).ToArray()));
    }

    /// <summary>Adds signed 64-bit integers.</summary>
    public void Add(string name, ReadOnlySpan<long> values, int[] shape)
    {
        Check(name, values.Length, shape);
        _tensors.Add((name, "I64", shape, MemoryMarshal.AsBytes(values).ToArray()));
    }

    /// <summary>Adds booleans (one byte each).</summary>
    public void Add(string name, ReadOnlySpan<bool> values, int[] shape)
    {
        Check(name, values.Length, shape);
        var data = new byte[values.Length];
        for (int i = 0; i < data.Length; i++) data[i] = values[i] ? (byte)1 : (byte)0;
        _tensors.Add((name, "BOOL", shape, data));
    }

    /// <summary>Writes the file through a temporary name, so an interrupted write leaves the old file intact.</summary>
    public void Write(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, data) in _tensors)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype);
                json.WriteStartArray("shape");
                foreach (int d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += data.Length;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - header.Length % 8) % 8);
        string temporary = path + ".tmp";
        using (var file = File.Create(temporary))
        {
            Span<byte> length = stackalloc byte[8];
            BitConverter.TryWriteBytes(length, header.Length + padding);
            file.Write(length);
            header.WriteTo(file);
            for (int i = 0; i < padding; i++) file.WriteByte((byte)' ');
            foreach (var t in _tensors) file.Write(t.Data);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static void Check(string name, int count, int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n != count) throw new ArgumentException($"tensor '{name}': {count} values do not fill shape [{string.Join(", ", shape)}]");
    }
}
