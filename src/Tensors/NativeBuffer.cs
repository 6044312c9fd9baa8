using System.Runtime.InteropServices;

namespace SpecCore.Tensors;

/// <summary>A block of 64-byte aligned native memory, zeroed at allocation, freed on dispose.</summary>
/// <remarks>Native rather than managed so that kernels get stable pointers without pinning, and
/// so that weights converted at load time sit beside memory-mapped ones.</remarks>
public sealed unsafe class NativeBuffer : IDisposable
{
    private void* _pointer;

    /// <summary>Allocates <paramref name="byteLength"/> zeroed bytes.</summary>
    public NativeBuffer(long byteLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        ByteLength = byteLength;
        _pointer = NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 64), 64);
        NativeMemory.Clear(_pointer, (nuint)Math.Max(byteLength, 64));
    }

    /// <summary>Size in bytes.</summary>
    public long ByteLength { get; }

    /// <summary>Start of the memory.</summary>
    public nint Pointer => _pointer == null ? throw new ObjectDisposedException(nameof(NativeBuffer)) : (nint)_pointer;

    /// <summary>The memory viewed as <typeparamref name="T"/> values (at most int.MaxValue of them).</summary>
    public Span<T> AsSpan<T>() where T : unmanaged =>
        new(_pointer, checked((int)(ByteLength / sizeof(T))));

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
