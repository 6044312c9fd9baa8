using System.Runtime.InteropServices;
using System.Text.Json;
using SpecCore.Tensors;

namespace SpecCore.Models.Safetensors;

/// <summary>Builds a safetensors file in memory and writes it (draft heads, checkpoints, test fixtures): tensors
/// in the order added, the header padded with spaces to a multiple of 8 bytes as the reference writer does.</summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, DType DType, int[] Shape, byte[] Data)> _tensors = new();

    /// <summary>Adds a float tensor stored as <paramref name="stored"/> (F32, F16 or BF16, rounded to nearest even).</summary>
    public void Add(string name, ReadOnlySpan<float> values, int[] shape, DType stored = DType.F32)
    {
        CheckCount(name, values.Length, shape);
        byte[] data;
        switch (stored)
        {
            case DType.F32:
                data = MemoryMarshal.AsBytes(values).ToArray();
                break;
            case DType.BF16:
            case DType.F16:
            {
                var half = new ushort[values.Length];
                for (int i = 0; i < values.Length; i++)
                    half[i] = stored == DType.BF16 ? FloatConversion.FloatToBF16(values[i]) : FloatConversion.FloatToF16(values[i]);
                data = MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
                break;
            }
            default:
                throw new ArgumentException($"float tensors are stored as F32, F16 or BF16, not {stored.Name()}", nameof(stored));
        }
        _tensors.Add((name, stored, (int[])shape.Clone(), data));
    }

    /// <summary>Adds a signed 64-bit integer tensor.</summary>
    public void Add(string name, ReadOnlySpan<long> values, int[] shape)
    {
        CheckCount(name, values.Length, shape);
        _tensors.Add((name, DType.I64, (int[])shape.Clone(), MemoryMarshal.AsBytes(values).ToArray()));
    }

    /// <summary>Adds a boolean tensor (one byte each).</summary>
    public void Add(string name, ReadOnlySpan<bool> values, int[] shape)
    {
        CheckCount(name, values.Length, shape);
        var data = new byte[values.Length];
        for (int i = 0; i < data.Length; i++) data[i] = values[i] ? (byte)1 : (byte)0;
        _tensors.Add((name, DType.Bool, (int[])shape.Clone(), data));
    }

    /// <summary>Writes the file (replacing one that exists).</summary>
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
                json.WriteString("dtype", SafetensorsName(dtype));
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
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BitConverter.TryWriteBytes(length, header.Length + padding);
        file.Write(length);
        header.WriteTo(file);
        for (int i = 0; i < padding; i++) file.WriteByte((byte)' ');
        foreach (var t in _tensors) file.Write(t.Data);
    }

    private static string SafetensorsName(DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I64 => "I64",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private static void CheckCount(string name, int count, int[] shape)
    {
        long n = 1;
        foreach (int d in shape) n *= d;
        if (n != count) throw new ArgumentException($"tensor '{name}': {count} values do not fill shape [{string.Join(", ", shape)}]");
    }
}
