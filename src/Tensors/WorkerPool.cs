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
/// thread taking part. Threads are started once and spin briefly between jobs, so a dispatch costs
/// well under a microsecond when jobs come back to back (as in a forward pass).</summary>
public sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private ParallelJob? _job;
    private int _count;
    private int _next;
    private int _pending;
    private long _generation;
    private volatile bool _disposed;
    private readonly object _gate = new();

    /// <summary>Creates a pool that runs work on <paramref name="threads"/> threads (the caller included).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ThreadCount = threads;
        _threads = new Thread[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"speccore-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads doing work, the calling thread included.</summary>
    public int ThreadCount { get; }

    /// <summary>Default thread count: every core the process may use.</summary>
    public static int DefaultThreadCount => Environment.ProcessorCount;

    /// <summary>Runs <paramref name="job"/> for indices [0, <paramref name="count"/>) and returns when all are done.</summary>
    public void Run(ParallelJob job, int count)
    {
        if (count <= 0) return;
        if (_threads.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) job.Execute(i);
            return;
        }

        _job = job;
        _count = count;
        Volatile.Write(ref _next, 0);
        Volatile.Write(ref _pending, _threads.Length);
        lock (_gate)
        {
            Interlocked.Increment(ref _generation);
            Monitor.PulseAll(_gate);
        }

        Drain(job, count);

        // Wait for the workers to leave the job before the caller may reuse it.
        var spinner = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spinner.SpinOnce(-1);
        _job = null;
    }

    private void Drain(ParallelJob job, int count)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count) job.Execute(i);
    }

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Spin first: jobs of one forward pass follow each other within microseconds.
            long generation = Volatile.Read(ref _generation);
            int spins = 0;
            while (generation == seen && spins < 20000 && !_disposed)
            {
                Thread.SpinWait(20);
                spins++;
                generation = Volatile.Read(ref _generation);
            }
            if (generation == seen)
            {
                lock (_gate)
                {
                    while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_gate);
                    generation = Volatile.Read(ref _generation);
                }
            }
            if (_disposed) return;
            seen = generation;
            ParallelJob? job = _job;
            if (job != null) Drain(job, _count);
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
    }
}
