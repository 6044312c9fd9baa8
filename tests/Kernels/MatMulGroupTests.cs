using SpecCore.Kernels;
using SpecCore.Kernels.Cpu;
using SpecCore.Tensors;
using static SpecCore.Tests.Kernels.KernelTestUtil;

namespace SpecCore.Tests.Kernels;

/// <summary>A matmul group gives exactly (bit for bit) what one matmul per matrix gives, on every kernel path and
/// thread count, for matrices of different dtypes and odd row counts sharing one input, large enough to be split
/// over the pool and small enough to run inline.</summary>
public class MatMulGroupTests
{
    public static TheoryData<string, int> Paths() => new() { { "best", 1 }, { "best", 2 }, { "avx2", 2 }, { "scalar", 2 } };

    [Theory]
    [MemberData(nameof(Paths))]
    public void GroupEqualsSeparateMatMuls(string path, int threads)
    {
        if (path == "avx2" && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var rng = new Random(91);
        using var backend = new CpuBackend(threads, forceScalar: path == "scalar", forceAvx2: path == "avx2");
        foreach (int cols in new[] { 32, 96, 320 })
        {
            foreach (DType[] dtypes in new[] { new[] { DType.F32, DType.F32, DType.F32 }, new[] { DType.Q8_0, DType.Q4_0, DType.BF16 }, new[] { DType.F16, DType.Q4_0 } })
            {
                int[] outRows = new[] { cols == 320 ? 299 : 37, 5, 130 }[..dtypes.Length];
                var weights = new DeviceTensor[dtypes.Length];
                try
                {
                    for (int i = 0; i < dtypes.Length; i++)
                        weights[i] = Weight(dtypes[i], RandomFloats(rng, outRows[i] * cols), outRows[i], cols).Tensor;
                    foreach (int rows in new[] { 1, 3, 8 })
                    {
                        using var x = Activations(RandomFloats(rng, rows * cols), rows, cols);
                        var grouped = new DeviceTensor[dtypes.Length];
                        var separate = new DeviceTensor[dtypes.Length];
                        for (int i = 0; i < dtypes.Length; i++)
                        {
                            grouped[i] = Activations(new float[rows * outRows[i]], rows, outRows[i]);
                            separate[i] = Activations(new float[rows * outRows[i]], rows, outRows[i]);
                            backend.MatMul(x, weights[i], separate[i], rows);
                        }
                        backend.MatMulGroup(x, weights, grouped, rows);
                        for (int i = 0; i < dtypes.Length; i++)
                        {
                            Assert.Equal(((CpuTensor)separate[i]).F32.ToArray(), ((CpuTensor)grouped[i]).F32.ToArray());
                            grouped[i].Dispose();
                            separate[i].Dispose();
                        }
                    }
                }
                finally
                {
                    foreach (var w in weights) w?.Dispose();
                }
            }
        }
    }

    [Fact]
    public void GroupRefusesMismatchedOperands()
    {
        using var backend = new CpuBackend(1);
        var (w, _) = Weight(DType.F32, new float[4 * 8], 4, 8);
        using var __ = w;
        using var x = Activations(new float[8], 1, 8);
        using var y = Activations(new float[4], 1, 4);
        using var wrong = Activations(new float[3], 1, 3);
        Assert.Throws<ArgumentException>(() => backend.MatMulGroup(x, new DeviceTensor[] { w, w }, new DeviceTensor[] { y }, 1));
        Assert.Throws<ArgumentException>(() => backend.MatMulGroup(x, new DeviceTensor[] { w }, new DeviceTensor[] { wrong }, 1));
    }
}
