using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Heads;
using SpecCore.Speculation.Trees;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>The EAGLE-3 drafter: greedy output equals plain greedy (chains and trees, with an oracle that makes
/// drafts land), the head's cache built round by round equals one built over the whole sequence at once, a rewound
/// sequence is followed, and speculative sampling keeps the target's distribution.</summary>
public sealed class Eagle3DrafterTests : IDisposable
{
    private readonly List<string> _folders = new();

    private string Head(ModelConfig config, int draftVocab, int seed = 3, bool normOutput = true)
    {
        var (folder, _) = TestHeads.WriteEagle3(config, seed: seed, draftVocab: draftVocab, normOutput: normOutput);
        _folders.Add(folder);
        return folder;
    }

    public void Dispose()
    {
        foreach (string f in _folders) Directory.Delete(f, true);
    }

    private static int[] Plain(TransformerModel target, int[] prompt, int n)
    {
        using var g = new Generator(target);
        return g.Generate(prompt, new GenerationOptions { MaxNewTokens = n, IgnoreEos = true }).Tokens;
    }

    public static TheoryData<string, bool> Settings => new()
    {
        { "chain:1", true }, { "chain:4", true }, { "chain:3", false }, { "dynamic:12", true }, { "dynamic:20:5:4", false }, { "static:3x2x1", true },
    };

    internal static GenerationOptions Options(string setting, int n, SamplingOptions? sampling = null) => setting.StartsWith("chain:", StringComparison.Ordinal)
        ? new GenerationOptions { MaxNewTokens = n, IgnoreEos = true, DraftLength = DraftLengthPolicy.Parse(setting[6..]), Sampling = sampling ?? SamplingOptions.Greedy }
        : new GenerationOptions { MaxNewTokens = n, IgnoreEos = true, Tree = TreeSpec.Parse(setting), Sampling = sampling ?? SamplingOptions.Greedy };

    [Theory]
    [MemberData(nameof(Settings))]
    public void GreedyMatchesPlainGreedy(string setting, bool normOutput)
    {
        var config = Eagle3HeadTests.Target(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, weights, backend);
        int[] prompt = { 1, 5, 9, 3 };
        int[] expected = Plain(target, prompt, 40);
        int[] reference = prompt.Concat(expected).ToArray();

        string folder = Head(config, 24, normOutput: normOutput);
        foreach (double alpha in new[] { 0.0, 0.8 })
        {
            var eagle = new Eagle3Drafter(Eagle3Head.Load(folder, target), target.DefaultCapacity, SamplingOptions.Greedy, "eagle3");
            using var drafter = new OracleMixDrafter(eagle, reference, alpha); // owns the head drafter
            using var generator = new Generator(target, drafter);
            var (tokens, stats) = generator.Generate(prompt, Options(setting, 40));
            Assert.Equal(expected, tokens);
            if (alpha > 0) Assert.True(stats.AcceptedTokens > 0, "the oracle's drafts should be accepted");
            Assert.True(stats.DraftedTokens > 0, "the head should draft every round");
            Assert.Equal(eagle.KnownLength - 1, eagle.Entries);
        }
    }

    /// <summary>Rounds of drafts, verification and random accepted paths, then the head's next root logits equal those of
    /// a fresh drafter that saw the whole sequence in one target pass: no entry is missing, stale or doubled.</summary>
    [Theory]
    [InlineData("chain")]
    [InlineData("dynamic:10")]
    public void IncrementalCacheEqualsOnePass(string setting)
    {
        var config = Eagle3HeadTests.Target(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, weights, backend);
        string folder = Head(config, 24);
        using var drafter = new Eagle3Drafter(Eagle3Head.Load(folder, target), 128, SamplingOptions.Greedy, "eagle3");
        TreeSpec? spec = setting == "chain" ? null : TreeSpec.Parse(setting);
        var rng = new Random(4);
        var sequence = new List<int> { 1, 5, 9, 3, 7 };
        var tree = new DraftTree(TreeSpec.MaxNodes, config.VocabSize);
        using (var state = target.CreateState(128, features: drafter.FeatureRequest))
        {
            int[] prompt = sequence.Take(4).ToArray();
            target.Forward(state, prompt);
            drafter.OnTargetPass(new TargetPass(state.Features!, 0, prompt, Enumerable.Range(0, 4).ToArray()));
            for (int round = 0; round < 8; round++)
            {
                tree.Clear();
                drafter.Propose(sequence.ToArray(), new DraftRequest(3, spec?.NodeBudget ?? 3, spec), tree);
                Assert.True(tree.Count > 0);
                int prefix = state.Length;
                int[] batch = new[] { sequence[^1] }.Concat(tree.Tokens.ToArray()).ToArray();
                target.Forward(state, batch, tree.BatchParents());
                var keep = new List<int> { 0 };
                for (int node = -1; ;)
                {
                    var children = Enumerable.Range(0, tree.Count).Where(c => tree.Parents[c] == node).ToList();
                    if (children.Count == 0 || rng.NextDouble() < 0.3) break;
                    node = children[rng.Next(children.Count)];
                    keep.Add(node + 1);
                    sequence.Add(tree.Tokens[node]);
                }
                state.Cache.Compact(prefix, keep.ToArray());
                drafter.OnTargetPass(new TargetPass(state.Features!, prefix, batch, keep.ToArray()));
                sequence.Add(rng.Next(config.VocabSize));
            }
        }
        float[] incremental = RootLogits(drafter, sequence);

        using var fresh = new Eagle3Drafter(Eagle3Head.Load(folder, target), 128, SamplingOptions.Greedy, "eagle3");
        using (var state = target.CreateState(128, features: fresh.FeatureRequest))
        {
            int[] all = sequence.Take(sequence.Count - 1).ToArray();
            target.Forward(state, all);
            fresh.OnTargetPass(new TargetPass(state.Features!, 0, all, Enumerable.Range(0, all.Length).ToArray()));
        }
        float[] onePass = RootLogits(fresh, sequence);
        Assert.Equal(sequence.Count - 1, drafter.Entries); // every position but the pending token, the root included
        for (int i = 0; i < onePass.Length; i++) Assert.True(Math.Abs(incremental[i] - onePass[i]) <= 1e-4, $"draft id {i}: {incremental[i]} vs {onePass[i]}");
    }

    private static float[] RootLogits(Eagle3Drafter drafter, List<int> sequence)
    {
        var tree = new DraftTree(4, drafter.VocabSize);
        drafter.Propose(sequence.ToArray(), new DraftRequest(1, 1), tree);
        Assert.Equal(1, tree.Count);
        return drafter.Head.ReadLogits(drafter.State, 1).ToArray();
    }

    /// <summary>Each tree level runs only its new nodes after the earlier levels' cached keys (shared prefix + tree region):
    /// every node's probability must equal the one its parent's path gives when run as a plain chain of head steps from
    /// the root, so no node attends to a non-ancestor, misses an ancestor or takes the wrong g.</summary>
    [Theory]
    [InlineData("dynamic:12", true)]
    [InlineData("dynamic:20:5:4", false)]
    [InlineData("static:3x2x1", true)]
    public void TreeNodesScoreAsTheirPathsDo(string setting, bool normOutput)
    {
        var config = Eagle3HeadTests.Target(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, weights, backend);
        AssertTreeNodesScoreAsTheirPaths(target, Head(config, 24, normOutput: normOutput), setting);
    }

    /// <summary>The check of <see cref="TreeNodesScoreAsTheirPathsDo"/> on any backend (the ILGPU tests run it too).</summary>
    internal static void AssertTreeNodesScoreAsTheirPaths(TransformerModel target, string folder, string setting)
    {
        var config = target.Config;
        var backend = target.Backend;
        using var drafter = new Eagle3Drafter(Eagle3Head.Load(folder, target), 64, SamplingOptions.Greedy, "eagle3");
        using var reference = new Eagle3Drafter(Eagle3Head.Load(folder, target), 64, SamplingOptions.Greedy, "eagle3");
        int[] prompt = { 1, 5, 9, 3, 7, 2 };
        using (var state = target.CreateState(64, features: drafter.FeatureRequest))
        {
            target.Forward(state, prompt);
            var pass = new TargetPass(state.Features!, 0, prompt, Enumerable.Range(0, prompt.Length).ToArray());
            drafter.OnTargetPass(pass);
            reference.OnTargetPass(pass);
        }
        int[] sequence = prompt.Append(4).ToArray();
        TreeSpec spec = TreeSpec.Parse(setting);
        var tree = new DraftTree(TreeSpec.MaxNodes, config.VocabSize);
        drafter.Propose(sequence, new DraftRequest(8, spec.NodeBudget, spec), tree);
        Assert.True(tree.MaxDepth >= 3, $"the tree should be several levels deep, got {tree.MaxDepth}");

        // The reference runs the root, keeps its g, then walks each parent's path one row per step.
        var one = new DraftTree(1, config.VocabSize);
        reference.Propose(sequence, new DraftRequest(1, 1), one);
        Eagle3Head head = reference.Head;
        Eagle3State s = reference.State;
        int h = head.Config.HiddenSize, vd = head.DraftVocabSize, entries = reference.Entries;
        var rootG = new float[h];
        backend.Read(head.FeedBackSource(s), rootG);
        float[] rootLogits = head.ReadLogits(s, 1).ToArray();
        var draftOf = new Dictionary<int, int>();
        for (int d = 0; d < vd; d++) draftOf[head.DraftToTarget[d]] = d;
        var softmax = new float[vd];
        for (int node = 0; node < tree.Count; node++)
        {
            var path = new List<int>();
            for (int a = tree.Parents[node]; a >= 0; a = tree.Parents[a]) path.Insert(0, tree.Tokens[a]);
            float[] logits = rootLogits;
            if (path.Count > 0)
            {
                backend.Write(s.G, rootG);
                for (int j = 0; j < path.Count; j++)
                {
                    if (j > 0) head.FeedBack(s, new[] { 0 });
                    head.Step(s, 1, new[] { path[j] }, new[] { sequence.Length + j }, entries + j, new[] { -1 });
                }
                logits = head.ReadLogits(s, 1).ToArray();
            }
            System.Numerics.Tensors.TensorPrimitives.SoftMax(logits, softmax);
            float expected = softmax[draftOf[tree.Tokens[node]]];
            Assert.True(Math.Abs(expected - tree.Probabilities[node]) <= 1e-4f, $"node {node} (depth {tree.Depths[node]}): {tree.Probabilities[node]} vs its path's {expected}");
        }
    }

    /// <summary>A session that rewinds and replaces the tail: the drafter drops what no longer holds, proposes nothing
    /// while it lacks the features to draft from, and drafts again after the next target pass.</summary>
    [Fact]
    public void RewoundSequenceIsFollowed()
    {
        var config = Eagle3HeadTests.Target(vocab: 32);
        using var backend = new CpuBackend(1);
        using var weights = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, weights, backend);
        using var drafter = new Eagle3Drafter(Eagle3Head.Load(Head(config, 24), target), 64, SamplingOptions.Greedy, "eagle3");
        using var state = target.CreateState(64, features: drafter.FeatureRequest);
        int[] prompt = { 1, 5, 9, 3, 7, 2, 8 };
        target.Forward(state, prompt);
        drafter.OnTargetPass(new TargetPass(state.Features!, 0, prompt, Enumerable.Range(0, prompt.Length).ToArray()));
        var tree = new DraftTree(8, config.VocabSize);
        drafter.Propose(prompt.Append(4).ToArray(), new DraftRequest(2, 2), tree);
        Assert.Equal(2, tree.Count);

        // Rewind to 4 tokens and append another pending one: no features for position 3 any more.
        state.Cache.Truncate(4);
        int[] rewound = { 1, 5, 9, 3, 11 };
        tree.Clear();
        drafter.Propose(rewound, new DraftRequest(2, 2), tree);
        Assert.Equal(0, tree.Count);
        Assert.Equal(3, drafter.Entries); // the entries of positions 0..2 still hold (they used x_1..x_3)

        // A plain target step over the pending token reports position 4; the head drafts off it again.
        target.Forward(state, new[] { 11 });
        drafter.OnTargetPass(new TargetPass(state.Features!, 4, new[] { 11 }, new[] { 0 }));
        tree.Clear();
        drafter.Propose(rewound.Append(6).ToArray(), new DraftRequest(2, 2), tree);
        Assert.Equal(2, tree.Count);
    }

    private const int Vocab = 8;

    [Theory]
    [InlineData("chain:2", 1.0f)]
    [InlineData("chain:3", 0.7f)]
    [InlineData("dynamic:6:2:2", 1.0f)]
    public void SamplingMatchesTargetDistribution(string setting, float temperature)
    {
        var config = BatchForwardTests.TinyConfig(vocab: Vocab) with { Layers = 4 };
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 21);
        using var target = TransformerModel.Create(config, tw, backend);
        double[] exact = SamplingLosslessness.ExactJoint(target, Vocab, temperature);
        var options = new SamplingOptions(temperature);
        using var drafter = new Eagle3Drafter(Eagle3Head.Load(Head(config, 6, seed: 9), target), 64, options, "eagle3");
        using var generator = new Generator(target, drafter);
        const int samples = 20000;
        var counts = new double[Vocab * Vocab];
        long accepted = 0;
        for (int s = 0; s < samples; s++)
        {
            var (tokens, stats) = generator.Generate(SamplingLosslessness.Prompt, Options(setting, 3, options with { Seed = (ulong)s + 1 }));
            counts[tokens[0] * Vocab + tokens[1]]++;
            accepted += stats.AcceptedTokens;
        }
        double tv = SamplingLosslessness.TotalVariation(counts.Select(c => c / samples).ToArray(), exact);
        double bound = Math.Sqrt(Vocab * Vocab / (double)samples);
        Assert.True(tv < bound, $"{setting}: TV to the target's distribution {tv:F4} exceeds {bound:F4}");
        Assert.True(accepted > samples / 100, $"drafts should be accepted some of the time ({accepted})");
    }
}

/// <summary>The exact joint distribution of the first two sampled tokens, as the draft-model losslessness test computes it.</summary>
internal static class SamplingLosslessness
{
    public static readonly int[] Prompt = { 1, 3 };

    public static double[] ExactJoint(TransformerModel model, int vocab, float temperature)
    {
        var sampler = new Sampler(vocab, new SamplingOptions(temperature));
        var p0 = new float[vocab];
        var p1 = new float[vocab];
        using var state = model.CreateState();
        sampler.Distribution(model.Forward(state, Prompt, default, LogitsRows.Last), p0);
        var joint = new double[vocab * vocab];
        for (int a = 0; a < vocab; a++)
        {
            state.Cache.Truncate(Prompt.Length);
            sampler.Distribution(model.Forward(state, new[] { a }), p1);
            for (int b = 0; b < vocab; b++) joint[a * vocab + b] = p0[a] * p1[b];
        }
        return joint;
    }

    public static double TotalVariation(double[] p, double[] q)
    {
        double tv = 0;
        for (int i = 0; i < p.Length; i++) tv += Math.Abs(p[i] - q[i]);
        return tv / 2;
    }
}
