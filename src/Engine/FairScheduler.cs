using SpecCore.Speculation.Generation;

namespace SpecCore.Engine;

/// <summary>
/// The one owner of a loaded model's backend: sessions take turns on it round by round, first come first served.
/// The backends are not re-entrant (the CPU matmul and attention keep per-call fields, the ILGPU backend shares
/// staging buffers and one stream), so concurrency is made safe by design here: exactly one model step runs at a
/// time, and a waiting session gets the next turn after those queued before it, so long outputs cannot starve
/// short ones.
/// </summary>
public sealed class FairScheduler : IRoundScheduler
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _queue = new();
    private bool _busy;

    /// <summary>Sessions waiting for a turn now.</summary>
    public int QueueDepth
    {
        get { lock (_lock) return _queue.Count; }
    }

    /// <summary>Sessions waiting or running now.</summary>
    public int Active
    {
        get { lock (_lock) return _queue.Count + (_busy ? 1 : 0); }
    }

    /// <inheritdoc />
    public bool Enter(CancellationToken cancellation)
    {
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_lock)
        {
            if (cancellation.IsCancellationRequested) return false;
            if (!_busy)
            {
                _busy = true;
                return true;
            }
            waiter = new Waiter();
            node = _queue.AddLast(waiter);
        }
        using (cancellation.Register(() =>
        {
            lock (_lock)
            {
                if (waiter.Granted || node.List == null) return;
                _queue.Remove(node);
            }
            waiter.Signal.Set();
        }))
        {
            waiter.Signal.Wait();
        }
        waiter.Signal.Dispose();
        return waiter.Granted;
    }

    /// <inheritdoc />
    public void Exit()
    {
        Waiter? next = null;
        lock (_lock)
        {
            if (_queue.First is { } first)
            {
                _queue.RemoveFirst();
                next = first.Value;
                next.Granted = true; // the turn passes straight on: _busy stays true
            }
            else _busy = false;
        }
        next?.Signal.Set();
    }

    private sealed class Waiter
    {
        public readonly ManualResetEventSlim Signal = new(false);
        public volatile bool Granted;
    }
}
