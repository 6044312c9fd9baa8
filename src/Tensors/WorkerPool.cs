namespace SpecCore.Tensors;

/// <summary>A unit of parallel work: <see cref="Execute"/> is called once for every index in [0, count).</summary>
/// <remarks>Kernels keep one instance per operation and set its fields before each dispatch, so a
/// dispatch allocates nothing.</remarks>
public abstract class ParallelJob
{
    /// <summary>Runs work item <paramref name="index"/>.</summary>
    public abstract void Execute(int index);
}

/// <summary>A persistent pool of worker threads that runs <see cref="ParallelJob"/>s with the calling
/// thread taking part. Threads are started once and spin for about a millisecond between jobs before
/// they block, so a dispatch costs well under a microsecond when jobs come back to back (as in a forward
/// pass) and takes no lock unless a worker sleeps.</summary>
/// <remarks>The items of a job are split into one contiguous home range per thread, and each thread works
/// through its own range before it steals from the others. A kernel that numbers its items the same way on
/// every call (matmul row chunks, attention heads) therefore gives every thread the same weights and cache rows
/// pass after pass, and they stay in that core's caches; stealing still balances a thread that falls behind.</remarks>
public sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private ParallelJob? _job;
    // One claim word per thread, a cache line apart: (end << 32) | next unclaimed item of its home range.
    private readonly long[] _ranges;
    private const int RangeStride = 16; // longs: 128 bytes, so two threads' words never share a line
    // The words every dispatch touches, each on its own cache line and none beside an array end, where whatever
    // object the allocator put next would share it: the caller bumps the generation and spins on the active
    // count while the workers spin on the generation and bump the count.
    private readonly long[] _sync = new long[4 * RangeStride];
    private const int GenerationSlot = RangeStride, ActiveSlot = 2 * RangeStride, SleepersSlot = 3 * RangeStride;
    private volatile bool _disposed;
    private readonly object _gate = new();

    /// <summary>Creates a pool that runs work on <paramref name="threads"/> threads (the caller included).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ThreadCount = threads;
        _ranges = new long[(threads + 2) * RangeStride];
        _threads = new Thread[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int self = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(self)) { IsBackground = true, Name = $"speccore-worker-{self}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads doing work, the calling thread included.</summary>
    public int ThreadCount { get; }

    /// <summary>Default thread count: every core the process may use.</summary>
    public static int DefaultThreadCount => Environment.ProcessorCount;

    /// <summary>Runs <paramref name="job"/> for indices [0, <paramref name="count"/>) and returns when all are done.</summary>
    /// <remarks>The caller claims work items too and waits only for workers that actually hold an item, so a
    /// worker that is descheduled (an oversubscribed machine) delays nothing but its own item.</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Run(ParallelJob job, int count)
    {
        if (count <= 0) return;
        if (_threads.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) job.Execute(i);
            return;
        }

        // Publish the job, then each thread's claim word (end, next = start of its home range) that every claim
        // increments: a claim is valid while next < end, so a late worker can only ever take an item of the
        // current job, and it reads the job only after a valid claim.
        _job = job;
        int threads = ThreadCount;
        for (int t = 0; t < threads; t++)
        {
            long start = (long)count * t / threads, end = (long)count * (t + 1) / threads;
            Interlocked.Exchange(ref _ranges[(t + 1) * RangeStride], (end << 32) | start);
        }
        // Wake-up hint for the workers; the interlocked increment is a full fence, so the sleeper count read
        // below cannot be reordered before it (a worker going to sleep increments the count before it re-reads
        // the generation, so one of the two sides always sees the other).
        Interlocked.Increment(ref _sync[GenerationSlot]);
        if (Volatile.Read(ref _sync[SleepersSlot]) > 0)
        {
            lock (_gate) Monitor.PulseAll(_gate);
        }

        int item;
        while ((item = Claim(0)) >= 0) job.Execute(item);

        // Every item is claimed; wait for the workers still executing one.
        while (Volatile.Read(ref _sync[ActiveSlot]) != 0) SpinPause();
    }

    /// <summary>Next unclaimed item of the current job for thread <paramref name="self"/>: from its home range
    /// first, then from the other threads' ranges; -1 when every item is claimed.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private int Claim(int self)
    {
        int threads = ThreadCount;
        for (int k = 0; k < threads; k++)
        {
            int t = self + k;
            if (t >= threads) t -= threads;
            ref long word = ref _ranges[(t + 1) * RangeStride];
            // Skip a range already used up rather than bounce its cache line between threads.
            long seen = Volatile.Read(ref word);
            if ((int)(seen & 0xFFFFFFFF) >= (int)(seen >> 32)) continue;
            long claimed = Interlocked.Increment(ref word);
            int index = (int)(claimed & 0xFFFFFFFF) - 1;
            if (index < (int)(claimed >> 32)) return index;
        }
        return -1;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void WorkerLoop(int self)
    {
        long seen = 0;
        while (true)
        {
            // Spin first (about a millisecond): jobs of one forward pass, and the passes of a decode loop,
            // follow each other within microseconds, and a sleeping worker takes tens of microseconds to wake.
            ref long generationWord = ref _sync[GenerationSlot];
            long generation = Volatile.Read(ref generationWord);
            long spinUntil = 0;
            int spins = 0;
            while (generation == seen && !_disposed)
            {
                SpinPause();
                generation = Volatile.Read(ref generationWord);
                if ((++spins & 255) == 0)
                {
                    long now = System.Diagnostics.Stopwatch.GetTimestamp();
                    if (spinUntil == 0) spinUntil = now + System.Diagnostics.Stopwatch.Frequency / 1000;
                    else if (now > spinUntil) break;
                }
            }
            if (generation == seen && !_disposed)
            {
                lock (_gate)
                {
                    Interlocked.Increment(ref _sync[SleepersSlot]);
                    while (Volatile.Read(ref generationWord) == seen && !_disposed) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sync[SleepersSlot]);
                    generation = Volatile.Read(ref generationWord);
                }
            }
            if (_disposed) return;
            seen = generation;

            // Announce before claiming: the caller returns only when no worker is active, and a successful
            // claim implies the caller has not yet finished claiming, so the job cannot change under us.
            Interlocked.Increment(ref _sync[ActiveSlot]);
            int i;
            ParallelJob? job = null;
            while ((i = Claim(self)) >= 0)
            {
                job ??= Volatile.Read(ref _job);
                job!.Execute(i);
            }
            Interlocked.Decrement(ref _sync[ActiveSlot]);
        }
    }

    /// <summary>One spin-wait step: a single pause instruction where there is one. Thread.SpinWait(1) scales its pause
    /// count by a measured normalisation that differs between the JIT runtime and NativeAOT (the AOT binary spent 1.6x
    /// the JIT's share of samples spinning), so the pool's hand-off latency would depend on the build.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void SpinPause()
    {
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported) System.Runtime.Intrinsics.X86.X86Base.Pause();
        else Thread.SpinWait(1);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
    }
}
