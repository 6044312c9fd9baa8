using SpecCore.Kernels.Ilgpu;

namespace SpecCore.Tests.Ilgpu;

/// <summary>Device enumeration and selection: absent or unusable devices give clear errors, never crashes.</summary>
[Collection("ilgpu")]
public class IlgpuDeviceTests
{
    private readonly IlgpuFixture _f;

    public IlgpuDeviceTests(IlgpuFixture f) => _f = f;

    [Fact]
    public void ListsTheCpuAcceleratorAsUsable()
    {
        var devices = IlgpuDevices.List();
        Assert.Contains(devices, d => d.Kind == "ilgpu-cpu" && d.Usable && d.WarpSize > 0);
        Assert.All(devices, d => Assert.True(d.Usable == (d.Reason is null), $"{d.Name}: usable {d.Usable}, reason {d.Reason}"));
        string text = IlgpuBackendFactory.DescribeDevices();
        Assert.Contains("ilgpu-cpu", text);
    }

    [Fact]
    public void UnknownOrMissingDevicesFailClearly()
    {
        Assert.Throws<ArgumentException>(() => IlgpuBackendFactory.Create("tpu"));
        var devices = IlgpuDevices.List();
        foreach (string kind in new[] { "cuda", "opencl" })
        {
            if (devices.Any(d => d.Kind == kind && d.Usable)) continue;
            var e = Assert.Throws<InvalidOperationException>(() => IlgpuBackendFactory.Create(kind));
            Assert.Contains(kind, e.Message);
        }
    }

    [Fact]
    public void BackendDescribesItsDevice()
    {
        Assert.Equal(_f.Device, _f.Gpu.Name);
        Assert.Contains("warp", _f.Gpu.Description);
    }
}
