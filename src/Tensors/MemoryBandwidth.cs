using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace SpecCore.Tensors;

/// <summary>Measures the machine's memory read bandwidth the way the benchmarks define it: all threads
/// summing a 1 GiB F32 array, best of 5 passes. Decode speed is set beside this figure.</summary>
public static unsafe class MemoryBandwidth
{
    /// <summary>Bytes read per pass (1 GiB).</summary>
    public const long ArrayBytes = 1L << 30;

    /// <summary>Read bandwidth in GB/s (10^9 bytes per second) with <paramref name="threads"/> threads,
    /// the best of 5 passes over a 1 GiB array. Takes about a second; allocates the array for the call.</summary>
    public static double MeasureReadGBps(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        using var buffer = new NativeBuffer(ArrayBytes);
        // Write every page once so that no pass pays for first-touch page faults.
        new Span<byte>((void*)buffer.Pointer, checked((int)ArrayBytes)).Fill(1);
        using var pool = new WorkerPool(threads);
        var job = new SumJob((float*)buffer.Pointer, ArrayBytes / sizeof(float), threads * 16);
        pool.Run(job, job.Chunks); // warm-up
        double best = 0;
        for (int pass = 0; pass < 5; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.Run(job, job.Chunks);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, ArrayBytes / seconds / 1e9);
        }
        return best;
    }

    private sealed class SumJob : ParallelJob
    {
        private readonly float* _data;
        private readonly long _perChunk;
        private float _sink;

        public SumJob(float* data, long count, int chunks)
        {
            _data = data;
            Chunks = chunks;
            _perChunk = count / chunks;
        }

        public int Chunks { get; }

        public override void Execute(int index)
        {
            float* p = _data + index * _perChunk;
            Vector512<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i + 64 <= _perChunk; i += 64)
            {
                a += Vector512.Load(p + i);
                b += Vector512.Load(p + i + 16);
                c += Vector512.Load(p + i + 32);
                d += Vector512.Load(p + i + 48);
            }
            _sink += Vector512.Sum(a + b + c + d); // keeps the loads alive; races on the sink are harmless
        }
    }
}
