using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SpecCore.Tensors;

/// <summary>Measures the machine's memory read bandwidth the way the benchmarks define it: all threads
/// summing a 1 GiB F32 array, far larger than any cache; the best of several passes and of two access patterns.
/// Decode speed is set beside this figure, so it must be a ceiling: no kernel streaming weights from memory
/// should read faster.</summary>
public static unsafe class MemoryBandwidth
{
    /// <summary>Bytes read per pass (1 GiB).</summary>
    public const long ArrayBytes = 1L << 30;

    /// <summary>Passes per access pattern.</summary>
    public const int Passes = 5;

    /// <summary>Read bandwidth in GB/s (10^9 bytes per second) with <paramref name="threads"/> threads: the best of
    /// <see cref="Passes"/> passes over a 1 GiB array for each of two patterns (one sequential stream per work item;
    /// four streams per item with software prefetch, the way the matmul kernels read 4 weight rows at once, which
    /// keeps more cache misses in flight). Takes a second or two; allocates the array for the call.</summary>
    public static double MeasureReadGBps(int threads) => MeasureReadGBps(threads, ArrayBytes);

    /// <summary>The same over an array of <paramref name="bytes"/> (at least 1 MiB, at most 1 GiB): what reading a working
    /// set of that size again and again reaches, from whichever caches hold it (a model smaller than the last-level cache
    /// is read from there, not from memory). Smaller arrays get more passes, so the call stays within a second or two.</summary>
    public static double MeasureReadGBps(int threads, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        bytes = Math.Clamp(bytes, 1L << 20, ArrayBytes) & ~4095L;
        int passes = (int)Math.Clamp(Passes * (ArrayBytes / bytes), Passes, 500);
        using var buffer = new NativeBuffer(bytes);
        // Write every page once so that no pass pays for first-touch page faults.
        new Span<byte>((void*)buffer.Pointer, checked((int)bytes)).Fill(1);
        using var pool = new WorkerPool(threads);
        double best = 0;
        foreach (bool streams in new[] { false, true })
        {
            var job = new SumJob((float*)buffer.Pointer, bytes / sizeof(float), threads * 16, streams);
            pool.Run(job, job.Chunks); // warm-up
            for (int pass = 0; pass < passes; pass++)
            {
                long start = Stopwatch.GetTimestamp();
                pool.Run(job, job.Chunks);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                best = Math.Max(best, job.BytesRead / seconds / 1e9);
            }
        }
        return best;
    }

    /// <summary>Size of the CPU's last-level cache in bytes as Linux reports it (cpu0's highest cache index), or null.</summary>
    public static long? LastLevelCacheBytes()
    {
        try
        {
            string root = "/sys/devices/system/cpu/cpu0/cache";
            if (!Directory.Exists(root)) return null;
            long? best = null;
            foreach (string index in Directory.GetDirectories(root, "index*"))
            {
                string file = Path.Combine(index, "size");
                if (!File.Exists(file)) continue;
                string text = File.ReadAllText(file).Trim();
                long scale = text.EndsWith('K') ? 1024 : text.EndsWith('M') ? 1024 * 1024 : 1;
                if (long.TryParse(text.TrimEnd('K', 'M'), out long value)) best = Math.Max(best ?? 0, value * scale);
            }
            return best;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private sealed class SumJob : ParallelJob
    {
        private readonly float* _data;
        private readonly long _perChunk;
        private readonly bool _fourStreams;
        private float _sink;

        public SumJob(float* data, long count, int chunks, bool fourStreams)
        {
            _data = data;
            Chunks = chunks;
            _perChunk = count / chunks;
            _fourStreams = fourStreams;
        }

        public int Chunks { get; }

        /// <summary>Bytes one pass reads: each chunk's whole 64-float steps.</summary>
        public long BytesRead => Chunks * (_perChunk / 64 * 64) * sizeof(float);

        public override void Execute(int index)
        {
            float* p = _data + index * _perChunk;
            float sum = Vector512.IsHardwareAccelerated
                ? (_fourStreams ? FourStreams512(p, _perChunk) : OneStream512(p, _perChunk))
                : (_fourStreams ? FourStreams256(p, _perChunk) : OneStream256(p, _perChunk));
            _sink += sum; // keeps the loads alive; races on the sink are harmless
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float OneStream512(float* p, long n)
        {
            Vector512<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i + 64 <= n; i += 64)
            {
                a += Vector512.Load(p + i);
                b += Vector512.Load(p + i + 16);
                c += Vector512.Load(p + i + 32);
                d += Vector512.Load(p + i + 48);
            }
            return Vector512.Sum(a + b + c + d);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float FourStreams512(float* p, long n)
        {
            long q = n / 4;
            float* p0 = p, p1 = p + q, p2 = p + 2 * q, p3 = p + 3 * q;
            Vector512<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i + 32 <= q; i += 32)
            {
                // A kilobyte ahead on each stream, as the matmul tiles prefetch their next rows.
                Sse.Prefetch0(p0 + i + 256);
                Sse.Prefetch0(p1 + i + 256);
                Sse.Prefetch0(p2 + i + 256);
                Sse.Prefetch0(p3 + i + 256);
                a += Vector512.Load(p0 + i) + Vector512.Load(p0 + i + 16);
                b += Vector512.Load(p1 + i) + Vector512.Load(p1 + i + 16);
                c += Vector512.Load(p2 + i) + Vector512.Load(p2 + i + 16);
                d += Vector512.Load(p3 + i) + Vector512.Load(p3 + i + 16);
            }
            return Vector512.Sum(a + b + c + d);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float OneStream256(float* p, long n)
        {
            Vector256<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i + 32 <= n; i += 32)
            {
                a += Vector256.Load(p + i);
                b += Vector256.Load(p + i + 8);
                c += Vector256.Load(p + i + 16);
                d += Vector256.Load(p + i + 24);
            }
            return Vector256.Sum(a + b + c + d);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float FourStreams256(float* p, long n)
        {
            long q = n / 4;
            float* p0 = p, p1 = p + q, p2 = p + 2 * q, p3 = p + 3 * q;
            Vector256<float> a = default, b = default, c = default, d = default;
            for (long i = 0; i + 16 <= q; i += 16)
            {
                if (Sse.IsSupported)
                {
                    Sse.Prefetch0(p0 + i + 256);
                    Sse.Prefetch0(p1 + i + 256);
                    Sse.Prefetch0(p2 + i + 256);
                    Sse.Prefetch0(p3 + i + 256);
                }
                a += Vector256.Load(p0 + i) + Vector256.Load(p0 + i + 8);
                b += Vector256.Load(p1 + i) + Vector256.Load(p1 + i + 8);
                c += Vector256.Load(p2 + i) + Vector256.Load(p2 + i + 8);
                d += Vector256.Load(p3 + i) + Vector256.Load(p3 + i + 8);
            }
            return Vector256.Sum(a + b + c + d);
        }
    }
}
