using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SpecCore.Tensors;

/// <summary>Measures the machine's peak F32 fused multiply-add rate the way the benchmarks define it: every thread
/// running independent FMA chains on registers (no memory traffic), at the widest vector width the kernels use
/// (Vector512 where it is accelerated, else Vector256); the best of several passes. Prefill and verification
/// GFLOP/s are set beside this figure.</summary>
public static class FmaPeak
{
    /// <summary>Passes measured.</summary>
    public const int Passes = 5;

    // 12 independent accumulators cover 2 FMA ports × 4-6 cycles of latency on current cores.
    private const int Iterations = 1 << 20;

    /// <summary>Peak F32 GFLOP/s (an FMA counts as 2 FLOPs) with <paramref name="threads"/> threads, best of
    /// <see cref="Passes"/> passes of about 2 · 12 · lanes · 2^20 FLOPs per work item. Takes well under a second.</summary>
    public static double MeasureGFlops(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        using var pool = new WorkerPool(threads);
        var job = new FmaJob(threads * 2);
        pool.Run(job, job.Chunks); // warm-up (and tier-up of the loop)
        double best = 0;
        for (int pass = 0; pass < Passes; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.Run(job, job.Chunks);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, job.FlopsPerRun / seconds / 1e9);
        }
        return best;
    }

    private sealed class FmaJob : ParallelJob
    {
        private float _sink;

        public FmaJob(int chunks) => Chunks = chunks;

        public int Chunks { get; }

        public double FlopsPerRun => (double)Chunks * Iterations * 12 * 2 * (Vector512.IsHardwareAccelerated ? 16 : 8);

        public override void Execute(int index) =>
            _sink += Vector512.IsHardwareAccelerated ? Run512(1f + index * 1e-9f) : Run256(1f + index * 1e-9f); // races on the sink are harmless

        [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
        private static float Run512(float seed)
        {
            // a ← a · m + c with m just under 1 stays finite for any number of iterations.
            Vector512<float> m = Vector512.Create(0.999999f), c = Vector512.Create(1e-7f);
            Vector512<float> a0 = Vector512.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c;
            Vector512<float> a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
            for (int i = 0; i < Iterations; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
                a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
                a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
                a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
                a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
                a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            }
            return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
        private static float Run256(float seed)
        {
            Vector256<float> m = Vector256.Create(0.999999f), c = Vector256.Create(1e-7f);
            Vector256<float> a0 = Vector256.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c;
            Vector256<float> a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
            for (int i = 0; i < Iterations; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
                a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
                a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
                a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
                a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
                a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            }
            return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
        }
    }
}
