using SpecCore.Tensors;

namespace SpecCore.Tests.Kernels;

/// <summary>The worker pool runs every item of every job exactly once, whatever the item count, and a thread keeps
/// its home range when nothing has to be stolen.</summary>
public class WorkerPoolTests
{
    private sealed class CountingJob(int capacity) : ParallelJob
    {
        public readonly int[] Runs = new int[capacity];
        public readonly int[] Thread = new int[capacity];

        public override void Execute(int index)
        {
            Interlocked.Increment(ref Runs[index]);
            Thread[index] = Environment.CurrentManagedThreadId;
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void EveryItemRunsExactlyOnce(int threads)
    {
        using var pool = new WorkerPool(threads);
        var job = new CountingJob(200);
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
        var job = new SlowFirstHalf(16);
        pool.Run(job, 16);
        Assert.All(job.Runs, r => Assert.Equal(1, r));
        // The caller's home range is items 0-7 (20 ms each); the worker finishes 8-15 at once and steals from 0-7.
        Assert.True(job.Threads.Take(8).Distinct().Count() > 1, "no item of the slow range was stolen");
        Assert.Single(job.Threads.Skip(8).Distinct());
    }

    private sealed class SlowFirstHalf(int count) : ParallelJob
    {
        public readonly int[] Runs = new int[count];
        public readonly int[] Threads = new int[count];

        public override void Execute(int index)
        {
            Interlocked.Increment(ref Runs[index]);
            Threads[index] = Environment.CurrentManagedThreadId;
            if (index < count / 2) System.Threading.Thread.Sleep(20);
        }
    }
}
