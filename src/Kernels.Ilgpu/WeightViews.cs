using ILGPU;

namespace SpecCore.Kernels.Ilgpu;

/// <summary>Reads weights of one stored dtype on the device, widened to F32. Kernels are generic over
/// this interface so F32, F16 and BF16 matrices share one kernel body and stay in their stored dtype.</summary>
internal interface IWeightView
{
    /// <summary>Element <paramref name="index"/> as F32.</summary>
    float Load(long index);

    /// <summary>Elements 2·<paramref name="pairIndex"/> and 2·<paramref name="pairIndex"/> + 1 as F32, in one
    /// 32-bit load for 16-bit dtypes.</summary>
    void LoadPair(long pairIndex, out float first, out float second);
}

/// <summary>F32 weights.</summary>
internal readonly struct F32Weights : IWeightView
{
    public readonly ArrayView<float> Data;

    public F32Weights(ArrayView<float> data) => Data = data;

    public float Load(long index) => Data[index];

    public void LoadPair(long pairIndex, out float first, out float second)
    {
        first = Data[2 * pairIndex];
        second = Data[2 * pairIndex + 1];
    }
}

/// <summary>IEEE half weights kept as raw 16-bit values (converted with the device's half conversion).</summary>
internal readonly struct F16Weights : IWeightView
{
    public readonly ArrayView<ushort> Data;
    public readonly ArrayView<uint> Pairs;

    public F16Weights(ArrayView<ushort> data)
    {
        Data = data;
        Pairs = data.Cast<uint>();
    }

    public float Load(long index) => (float)Interop.IntAsFloat(Data[index]);

    public void LoadPair(long pairIndex, out float first, out float second)
    {
        uint bits = Pairs[pairIndex];
        first = (float)Interop.IntAsFloat((ushort)(bits & 0xFFFFu));
        second = (float)Interop.IntAsFloat((ushort)(bits >> 16));
    }
}

/// <summary>bfloat16 weights kept as raw 16-bit values, widened by a shift into the upper half of an F32.</summary>
internal readonly struct BF16Weights : IWeightView
{
    public readonly ArrayView<ushort> Data;
    public readonly ArrayView<uint> Pairs;

    public BF16Weights(ArrayView<ushort> data)
    {
        Data = data;
        Pairs = data.Cast<uint>();
    }

    public float Load(long index) => Interop.IntAsFloat((uint)Data[index] << 16);

    public void LoadPair(long pairIndex, out float first, out float second)
    {
        uint bits = Pairs[pairIndex];
        first = Interop.IntAsFloat(bits << 16);
        second = Interop.IntAsFloat(bits & 0xFFFF0000u);
    }
}
