namespace SpecCore.Engine;

/// <summary>A request found every session busy and the queue full.</summary>
public sealed class EngineBusyException(string message) : Exception(message);

/// <summary>
/// Slots for a server or a shared client: a fixed number of engine sessions, each serving one request at a time. A request takes the free
/// session whose cache shares the longest prefix with its prompt (a client's next chat turn usually finds its last one),
/// waits in a queue of bounded length when all are busy, and gives the session back when it ends, also when the client
/// went away.
/// </summary>
public sealed class SessionPool : IDisposable
{
    private readonly InferenceEngine _engine;
    private readonly EngineSession?[] _sessions;
    private readonly bool[] _busy;
    private readonly int[][] _cached;
    private readonly SemaphoreSlim _free;
    private readonly int _maxQueue;
    private int _waiting;
    private int _running;

    /// <summary>Creates <paramref name="slots"/> slots (their sessions open on first use) with room for
    /// <paramref name="maxQueue"/> waiting requests.</summary>
    public SessionPool(InferenceEngine engine, int slots, int maxQueue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxQueue);
        _engine = engine;
        _sessions = new EngineSession?[slots];
        _busy = new bool[slots];
        _cached = new int[slots][];
        for (int i = 0; i < slots; i++) _cached[i] = [];
        _free = new SemaphoreSlim(slots, slots);
        _maxQueue = maxQueue;
    }

    /// <summary>Slots in all.</summary>
    public int Slots => _sessions.Length;

    /// <summary>Requests waiting for a slot.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Requests holding a slot.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Waits for a free session, preferring the one whose cache shares the longest prefix with
    /// <paramref name="prompt"/>.</summary>
    /// <exception cref="EngineBusyException">Every slot is busy and the queue is full.</exception>
    public async Task<Lease> AcquireAsync(int[] prompt, CancellationToken cancellation)
    {
        if (Interlocked.Increment(ref _waiting) > _maxQueue && _free.CurrentCount == 0)
        {
            Interlocked.Decrement(ref _waiting);
            throw new EngineBusyException($"busy: {Slots} requests are generating and {_maxQueue} are waiting; retry later");
        }
        try
        {
            await _free.WaitAsync(cancellation).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        int slot;
        lock (_busy)
        {
            slot = -1;
            int best = -1;
            for (int i = 0; i < _sessions.Length; i++)
            {
                if (_busy[i]) continue;
                int shared = SharedPrefix(_cached[i], prompt);
                if (shared > best) (best, slot) = (shared, i);
            }
            _busy[slot] = true;
        }
        Interlocked.Increment(ref _running);
        try
        {
            _sessions[slot] ??= _engine.OpenSession();
        }
        catch
        {
            Release(slot);
            throw;
        }
        return new Lease(this, slot);
    }

    private static int SharedPrefix(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    private void Release(int slot)
    {
        lock (_busy)
        {
            _busy[slot] = false;
        }
        Interlocked.Decrement(ref _running);
        _free.Release();
    }

    /// <summary>Frees the sessions; no lease may be held.</summary>
    public void Dispose()
    {
        foreach (EngineSession? s in _sessions) s?.Dispose();
        _free.Dispose();
    }

    /// <summary>One request's hold on a session.</summary>
    public sealed class Lease(SessionPool pool, int slot) : IDisposable
    {
        private bool _done;

        /// <summary>The session to use until the lease is disposed.</summary>
        public EngineSession Session => pool._sessions[slot]!;

        /// <summary>Remembers what the session's cache now holds, for the choice of slot of later requests.</summary>
        public void Remember(int[] prompt, CompletionResult? result)
        {
            pool._cached[slot] = result == null ? [] : [.. prompt, .. result.Tokens];
        }

        /// <summary>Gives the session back.</summary>
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            pool.Release(slot);
        }
    }
}
