using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>Reads a head's safetensors file onto a backend: every tensor checked for its key, shape and finiteness
/// with errors naming the file and the key; matrices converted to the head's weight dtype, vectors to F32.
/// Owns the file and every converted copy (the CPU backend reads host memory in place).</summary>
internal sealed unsafe class HeadTensors : IDisposable
{
    private readonly SafetensorsFile _file;
    private readonly IBackend _backend;
    private readonly List<IDisposable> _owned = new();

    public HeadTensors(string path, IBackend backend)
    {
        _file = SafetensorsFile.Open(path);
        _backend = backend;
    }

    public string Path => _file.Path;

    public bool Contains(string name) => _file.Tensors.ContainsKey(name);

    /// <summary>The dtype the head's matrices are stored in (that of <paramref name="name"/>).</summary>
    public DType StoredType(string name) => Get(name).DType;

    public HostTensor Get(string name)
    {
        if (!_file.Tensors.TryGetValue(name, out HostTensor t)) throw Error($"tensor '{name}' is missing");
        return t;
    }

    public HostTensor Get(string name, params int[] shape)
    {
        HostTensor t = Get(name);
        if (!t.Shape.AsSpan().SequenceEqual(shape))
            throw Error($"tensor '{name}' has shape {t.ShapeText} but the config implies [{string.Join(", ", shape)}]");
        return t;
    }

    /// <summary>A float tensor read as F32 host values (checked finite).</summary>
    public float[] ReadF32(string name, params int[] shape)
    {
        HostTensor t = Get(name, shape);
        if (!t.DType.IsFloatingOrQuantized() || t.DType == DType.Q8_0) throw Error($"tensor '{name}' is {t.DType.Name()}, expected F32, F16 or BF16");
        WeightConversion.CheckFinite(t, _file.Path, refuseAllZero: false);
        var values = new float[t.ElementCount];
        int cols = t.Cols;
        for (long r = 0; r < t.ElementCount / cols; r++) WeightConversion.ReadRowAsF32(t, r, values.AsSpan((int)(r * cols), cols));
        return values;
    }

    /// <summary>An I64 tensor.</summary>
    public long[] ReadI64(string name, params int[] shape)
    {
        HostTensor t = Get(name, shape);
        if (t.DType != DType.I64) throw Error($"tensor '{name}' is {t.DType.Name()}, expected I64");
        return new ReadOnlySpan<long>((void*)t.Pointer, (int)t.ElementCount).ToArray();
    }

    /// <summary>A BOOL tensor.</summary>
    public bool[] ReadBool(string name, params int[] shape)
    {
        HostTensor t = Get(name, shape);
        if (t.DType != DType.Bool) throw Error($"tensor '{name}' is {t.DType.Name()}, expected BOOL");
        var bytes = new ReadOnlySpan<byte>((void*)t.Pointer, (int)t.ElementCount);
        var r = new bool[bytes.Length];
        for (int i = 0; i < r.Length; i++) r[i] = bytes[i] != 0;
        return r;
    }

    /// <summary>Uploads host values ([rows, cols]) as a matrix of <paramref name="dtype"/>.</summary>
    public DeviceTensor UploadMatrix(string name, ReadOnlySpan<float> values, int rows, int cols, DType dtype)
    {
        var buffer = new NativeBuffer(4L * values.Length);
        _owned.Add(buffer);
        values.CopyTo(buffer.AsSpan<float>());
        var host = new HostTensor(name, DType.F32, new[] { rows, cols }, buffer.Pointer, buffer.ByteLength);
        host = WeightConversion.Convert(host, dtype, _owned);
        DeviceTensor d = _backend.UploadWeight(host);
        _owned.Add(d);
        return d;
    }

    /// <summary>Uploads a [n] F32 vector.</summary>
    public DeviceTensor UploadVector(string name, ReadOnlySpan<float> values)
    {
        var buffer = new NativeBuffer(4L * values.Length);
        _owned.Add(buffer);
        values.CopyTo(buffer.AsSpan<float>());
        DeviceTensor d = _backend.UploadWeight(new HostTensor(name, DType.F32, new[] { values.Length }, buffer.Pointer, buffer.ByteLength));
        _owned.Add(d);
        return d;
    }

    /// <summary>The matrix <paramref name="name"/> ([rows, cols]) on the backend as <paramref name="dtype"/>.</summary>
    public DeviceTensor Matrix(string name, int rows, int cols, DType dtype) => UploadMatrix(name, ReadF32(name, rows, cols), rows, cols, dtype);

    /// <summary>The vector <paramref name="name"/> ([n]) on the backend as F32.</summary>
    public DeviceTensor Vector(string name, int n) => UploadVector(name, ReadF32(name, n));

    /// <summary>Columns [first, first + count) of a row-major [rows, cols] matrix.</summary>
    public static float[] Columns(float[] matrix, int rows, int cols, int first, int count)
    {
        var r = new float[(long)rows * count];
        for (int i = 0; i < rows; i++) matrix.AsSpan(i * cols + first, count).CopyTo(r.AsSpan(i * count, count));
        return r;
    }

    public InvalidDataException Error(string message) => new($"{_file.Path}: {message}");

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _file.Dispose();
    }
}
