using System.Buffers.Binary;

namespace SpecCore.Models.Tokenization;

/// <summary>A minimal protobuf wire-format reader (varint, 64-bit, length-delimited, 32-bit fields).</summary>
internal ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _what;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> data, string what)
    {
        _data = data;
        _what = what;
        _pos = 0;
    }

    public readonly bool End => _pos >= _data.Length;

    /// <summary>Reads the next field key; returns false at the end of the message.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        if (End)
        {
            field = 0;
            wireType = 0;
            return false;
        }
        ulong key = ReadVarint();
        field = (int)(key >> 3);
        wireType = (int)(key & 7);
        if (field <= 0) throw Malformed($"invalid field number {field} at byte {_pos}");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_pos >= _data.Length) throw Malformed("truncated varint");
            byte b = _data[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
        throw Malformed("varint longer than 10 bytes");
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos)) throw Malformed($"length {length} at byte {_pos} runs past the end");
        ReadOnlySpan<byte> bytes = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return bytes;
    }

    public float ReadFloat()
    {
        if (_data.Length - _pos < 4) throw Malformed("truncated 32-bit field");
        float value = BinaryPrimitives.ReadSingleLittleEndian(_data[_pos..]);
        _pos += 4;
        return value;
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Advance(8); break;
            case 2: ReadBytes(); break;
            case 5: Advance(4); break;
            default: throw Malformed($"unsupported wire type {wireType} at byte {_pos}");
        }
    }

    private void Advance(int count)
    {
        if (_data.Length - _pos < count) throw Malformed("truncated fixed-size field");
        _pos += count;
    }

    public readonly InvalidDataException Malformed(string problem) =>
        new($"{_what}: malformed protobuf: {problem}");
}
