using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>The worker pool runs every item of every job exactly once, whatever the item count, and a thread keeps
/// its home range when nothing has to be stolen.</summary>
public class WorkerPoolTests
{
    /// <summary>Counts the runs of each item and the thread that ran it; items below <paramref name="slowBelow"/> take 20 ms.</summary>
    private sealed class RecordingJob(int capacity, int slowBelow = 0) : ParallelJob
    {
        public readonly int[] Runs = new int[capacity];
        public readonly int[] Threads = new int[capacity];

        public override void Execute(int index)
        {
            Interlocked.Increment(ref Runs[index]);
            Threads[index] = Environment.CurrentManagedThreadId;
            if (index < slowBelow) Thread.Sleep(20);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void EveryItemRunsExactlyOnce(int threads)
    {
        using var pool = new WorkerPool(threads);
        var job = new RecordingJob(200);
        // Back-to-back jobs of changing sizes, as a forward pass issues them: a late worker must never run an item
        // twice or run one of the next job's items under the previous job.
        for (int round = 0; round < 3000; round++)
        {
            int count = round % 67;
            Array.Clear(job.Runs);
            pool.Run(job, count);
            for (int i = 0; i < job.Runs.Length; i++)
                Assert.True(job.Runs[i] == (i < count ? 1 : 0), $"round {round}, {count} items: item {i} ran {job.Runs[i]} times");
        }
    }

    [Fact]
    public void SlowItemsInOneRangeAreStolen()
    {
        using var pool = new WorkerPool(2);
        var job = new RecordingJob(16, slowBelow: 8);
        pool.Run(job, 16);
        Assert.All(job.Runs, r => Assert.Equal(1, r));
        // The caller's home range is items 0-7 (20 ms each); the worker finishes 8-15 at once and steals from 0-7.
        Assert.True(job.Threads.Take(8).Distinct().Count() > 1, "no item of the slow range was stolen");
        Assert.Single(job.Threads.Skip(8).Distinct());
    }
}
