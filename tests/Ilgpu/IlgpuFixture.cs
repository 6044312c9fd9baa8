using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Ilgpu;
using SpecCore.Tensors;

namespace SpecCore.Tests.Ilgpu;

/// <summary>One ILGPU backend (kernels compiled once) and one CPU reference backend shared by every
/// ILGPU test. The accelerator comes from SPECCORE_TEST_DEVICE: ilgpu-cpu (default), cuda or opencl.
/// The attention chunk is small (16 keys) so that short test caches already take the split
/// (flash-decoding) path as well as the single-pass one.</summary>
public sealed class IlgpuFixture : IDisposable
{
    /// <summary>Keys per attention chunk in these tests.</summary>
    public const int AttentionChunk = 16;

    public IlgpuFixture()
    {
        Device = Environment.GetEnvironmentVariable("SPECCORE_TEST_DEVICE") is { Length: > 0 } d ? d : "ilgpu-cpu";
        Gpu = IlgpuBackend.Create(Device, new IlgpuOptions { AttentionChunk = AttentionChunk });
        // Whole-model runs launch thousands of kernels: on the CPU accelerator every shuffle step is a
        // thread rendezvous, so they use warps of 2 (the kernel tests above keep warps of 4).
        ModelGpu = Device == "ilgpu-cpu"
            ? IlgpuBackend.Create(Device, new IlgpuOptions { AttentionChunk = AttentionChunk, CpuWarpSize = 2 })
            : Gpu;
        Cpu = new CpuBackend(2);
    }

    /// <summary>The device kind under test.</summary>
    public string Device { get; }

    /// <summary>The backend under test.</summary>
    public IlgpuBackend Gpu { get; }

    /// <summary>The backend for whole-model tests (the same as <see cref="Gpu"/> except on the CPU accelerator).</summary>
    public IlgpuBackend ModelGpu { get; }

    /// <summary>The reference.</summary>
    public CpuBackend Cpu { get; }

    public void Dispose()
    {
        if (!ReferenceEquals(ModelGpu, Gpu)) ModelGpu.Dispose();
        Gpu.Dispose();
        Cpu.Dispose();
    }
}

[CollectionDefinition("ilgpu")]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>;

/// <summary>Random host data and paired tensors (same contents on the CPU reference and the device).</summary>
internal sealed class Pair : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private readonly IlgpuFixture _f;
    private readonly Random _rng;

    public Pair(IlgpuFixture f, int seed)
    {
        _f = f;
        _rng = new Random(seed);
    }

    public Random Rng => _rng;

    public float[] Random(int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(_rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>F32 activation tensors holding <paramref name="values"/> on both backends.</summary>
    public (DeviceTensor Cpu, DeviceTensor Gpu) Activation(float[] values, params int[] shape)
    {
        var c = _f.Cpu.Allocate(DType.F32, shape);
        var g = _f.Gpu.Allocate(DType.F32, shape);
        _owned.Add(c);
        _owned.Add(g);
        _f.Cpu.Write(c, values);
        _f.Gpu.Write(g, values);
        return (c, g);
    }

    /// <summary>A random weight of <paramref name="dtype"/> uploaded to both backends.</summary>
    public unsafe (DeviceTensor Cpu, DeviceTensor Gpu, float[] Widened) Weight(DType dtype, int rows, int cols, float scale = 1f, bool vector = false)
    {
        long n = (long)rows * cols;
        float[] values = Random((int)n, scale);
        var buffer = new NativeBuffer(dtype.ByteSize(n));
        _owned.Add(buffer);
        var widened = new float[n];
        for (int i = 0; i < n; i++)
        {
            switch (dtype)
            {
                case DType.F32:
                    ((float*)buffer.Pointer)[i] = widened[i] = values[i];
                    break;
                case DType.F16:
                    ushort h = FloatConversion.FloatToF16(values[i]);
                    ((ushort*)buffer.Pointer)[i] = h;
                    widened[i] = FloatConversion.F16ToFloat(h);
                    break;
                default:
                    ushort b = FloatConversion.FloatToBF16(values[i]);
                    ((ushort*)buffer.Pointer)[i] = b;
                    widened[i] = FloatConversion.BF16ToFloat(b);
                    break;
            }
        }
        int[] shape = vector ? new[] { cols } : new[] { rows, cols };
        var host = new HostTensor("w", dtype, shape, buffer.Pointer, buffer.ByteLength);
        var c = _f.Cpu.UploadWeight(host);
        var g = _f.Gpu.UploadWeight(host);
        _owned.Add(c);
        _owned.Add(g);
        return (c, g, widened);
    }

    public float[] ReadCpu(DeviceTensor t, int count)
    {
        var a = new float[count];
        _f.Cpu.Read(t, a);
        return a;
    }

    public float[] ReadGpu(DeviceTensor t, int count)
    {
        var a = new float[count];
        _f.Gpu.Read(t, a);
        return a;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
