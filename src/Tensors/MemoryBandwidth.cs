using System.Diagnostics;
using System.Numerics.Tensors;

namespace SpecCore.Tensors;

/// <summary>Measures the machine's memory read bandwidth the way DESIGN.md defines it: all threads summing
/// a 1 GiB F32 array, best of 5, so benchmark figures can be set against the machine's limit.</summary>
public static class MemoryBandwidth
{
    private sealed class SumJob : ParallelJob
    {
        public nint Base;
        public long Floats;
        public int Chunks;
        public readonly double[] Partial = new double[256];

        public override unsafe void Execute(int index)
        {
            long per = Floats / Chunks;
            long start = index * per;
            long count = index == Chunks - 1 ? Floats - start : per;
            float sum = 0;
            float* p = (float*)Base + start;
            while (count > 0)
            {
                int n = (int)Math.Min(count, 1 << 20);
                sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(p, n));
                p += n;
                count -= n;
            }
            Partial[index] = sum;
        }
    }

    /// <summary>GB/s (10^9 bytes) read by <paramref name="threads"/> threads summing <paramref name="bytes"/> bytes, best of <paramref name="repeats"/>.</summary>
    public static double MeasureReadGBps(int threads, long bytes = 1L << 30, int repeats = 5)
    {
        using var buffer = new NativeBuffer(bytes);
        using var pool = new WorkerPool(threads);
        var job = new SumJob { Base = buffer.Pointer, Floats = bytes / 4, Chunks = Math.Min(256, threads * 16) };
        // Touch the pages once so the first timed pass does not pay for page faults.
        pool.Run(job, job.Chunks);
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            pool.Run(job, job.Chunks);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, bytes / seconds / 1e9);
        }
        return best;
    }
}
