namespace SpecCore.Tensors;

/// <summary>Element types a tensor can hold.</summary>
public enum DType
{
    /// <summary>IEEE 754 single precision.</summary>
    F32,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16: the upper 16 bits of an F32.</summary>
    BF16,
    /// <summary>Blocks of 32 signed bytes sharing one scale (as GGUF's Q8_0).</summary>
    Q8_0,
    /// <summary>Signed 64-bit integers (index tables such as an EAGLE head's d2t; never a weight a kernel reads).</summary>
    I64,
    /// <summary>One byte per boolean (masks such as an EAGLE head's t2d; never a weight a kernel reads).</summary>
    Bool,
    /// <summary>Blocks of 32 4-bit values sharing one scale (as GGUF's Q4_0).</summary>
    Q4_0,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypeInfo
{
    /// <summary>Elements per Q8_0 (and Q4_0) block.</summary>
    public const int Q8BlockSize = 32;

    /// <summary>Bytes taken by <paramref name="elements"/> values of <paramref name="type"/> laid out densely.</summary>
    public static long ByteSize(this DType type, long elements) => type switch
    {
        DType.F32 => elements * 4,
        DType.F16 or DType.BF16 => elements * 2,
        DType.I64 => elements * 8,
        DType.Bool => elements,
        // Q8_0: per block of 32 values, one F16 scale and 32 int8 quants (34 bytes), as GGUF.
        DType.Q8_0 => elements + elements / Q8BlockSize * 2,
        // Q4_0: per block of 32 values, one F16 scale and 16 bytes of nibbles (18 bytes), as GGUF.
        DType.Q4_0 => elements / 2 + elements / Q8BlockSize * 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Parses a safetensors/Hugging Face dtype name ("F32", "BF16", ...); null if unknown.</summary>
    public static DType? FromSafetensorsName(string name) => name switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        "I64" => DType.I64,
        "BOOL" => DType.Bool,
        _ => null,
    };

    /// <summary>Whether values of <paramref name="type"/> are numbers a kernel can read as weights (not I64 or Bool).</summary>
    public static bool IsFloatingOrQuantized(this DType type) => type is DType.F32 or DType.F16 or DType.BF16 or DType.Q8_0 or DType.Q4_0;

    /// <summary>Parses a user-facing dtype name (f32, f16, bf16, q8_0, q4_0), case-insensitive.</summary>
    public static DType Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "f16" or "float16" => DType.F16,
        "bf16" or "bfloat16" => DType.BF16,
        "q8_0" or "q8" => DType.Q8_0,
        "q4_0" or "q4" => DType.Q4_0,
        _ => throw new ArgumentException($"unknown dtype '{name}' (expected f32, f16, bf16, q8_0 or q4_0)"),
    };

    /// <summary>The lower-case name used on the command line.</summary>
    public static string Name(this DType type) => type switch
    {
        DType.F32 => "f32",
        DType.F16 => "f16",
        DType.BF16 => "bf16",
        DType.Q8_0 => "q8_0",
        DType.I64 => "i64",
        DType.Bool => "bool",
        DType.Q4_0 => "q4_0",
        _ => type.ToString(),
    };
}
