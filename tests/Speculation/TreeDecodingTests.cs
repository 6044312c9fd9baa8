using SpecCore.Kernels.Cpu;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Models.Safetensors;
using SpecCore.Speculation.Drafters;
using SpecCore.Speculation.Generation;
using SpecCore.Speculation.Trees;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Speculation;

/// <summary>Tree settings, Sequoia shapes, and greedy tree decoding against plain greedy decoding.</summary>
public class TreeDecodingTests
{
    /// <summary>The repository's profiles/ folder.</summary>
    internal static string ProfilePath(string target, string draft)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SpecCore.sln")))
                return Path.Combine(dir.FullName, "profiles", AcceptanceProfile.FileName(target, draft));
        throw new DirectoryNotFoundException("SpecCore.sln not found above the test binary");
    }

    [Fact]
    public void ParsesTreeSettings()
    {
        TreeSpec s = TreeSpec.Parse("static:4x2x2x1");
        Assert.Equal(TreeKind.Static, s.Kind);
        Assert.Equal(4 + 8 + 16 + 16, s.NodeBudget);
        Assert.Equal(4, s.MaxDepth);
        int[] depths = s.Shape!.Depths.ToArray();
        Assert.Equal(new[] { 4, 8, 16, 16 }, Enumerable.Range(1, 4).Select(d => depths.Count(x => x == d)));
        TreeSpec q = TreeSpec.Parse("sequoia:16");
        Assert.True(q.NeedsProfile);
        Assert.Equal(16, q.NodeBudget);
        TreeSpec dyn = TreeSpec.Parse("dynamic:20:6:3");
        Assert.Equal((TreeKind.Dynamic, 20, 6, 3), (dyn.Kind, dyn.NodeBudget, dyn.MaxDepth, dyn.TopK));
        Assert.Equal(TreeSpec.DefaultTopK, TreeSpec.Parse("DYNAMIC:8").TopK);

        foreach (string bad in new[] { "", "static", "static:", "static:4x0", "static:8x8", "sequoia:0", "sequoia:64", "dynamic:x", "dynamic:4:1:2:3", "chain:4", "static:2:3" })
        {
            var e = Assert.Throws<ArgumentException>(() => TreeSpec.Parse(bad));
            Assert.Contains("--tree", e.Message);
        }
    }

    [Fact]
    public void SequoiaShapeFitsTheBudgetAndBeatsChainsAndKaryShapes()
    {
        var profile = AcceptanceProfile.Load(ProfilePath("stories260K", "tinystories-draft"));
        foreach (int budget in new[] { 1, 4, 7, 15, 31 })
        {
            TreeShape shape = TreeShape.Sequoia(profile, budget, budget);
            Assert.InRange(shape.Count, 1, budget);
            double best = shape.ExpectedAcceptedLength(profile);
            Assert.True(best + 1e-9 >= TreeShape.FromBranching(Enumerable.Repeat(1, budget).ToArray()).ExpectedAcceptedLength(profile), $"budget {budget}: worse than a chain");
            if (budget >= 6) Assert.True(best + 1e-9 >= TreeShape.FromBranching(new[] { 2, 1, 1 }).ExpectedAcceptedLength(profile));
            if (budget >= 15) Assert.True(best + 1e-9 >= TreeShape.FromBranching(new[] { 3, 1, 1, 1, 1 }).ExpectedAcceptedLength(profile));
        }
        // A depth limit is honoured.
        Assert.True(TreeShape.Sequoia(profile, 15, 3).MaxDepth <= 3);
    }

    [Fact]
    public void ProfilesRoundTripThroughJson()
    {
        var profile = AcceptanceProfile.Load(ProfilePath("stories2M", "stories260K"));
        string path = Path.Combine(Path.GetTempPath(), $"speccore-profile-{Environment.ProcessId}.json");
        try
        {
            profile.Save(path);
            var again = AcceptanceProfile.Load(path);
            Assert.Equal(profile.MaxDepth, again.MaxDepth);
            for (int d = 1; d <= profile.MaxDepth; d++)
                for (int r = 0; r < profile.MaxRank; r++) Assert.Equal(profile.Rate(d, r), again.Rate(d, r));
            File.WriteAllText(path, "{\"acceptance\": [[0.9, 0.3]]}");
            Assert.Contains("add up", Assert.Throws<InvalidDataException>(() => AcceptanceProfile.Load(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<FileNotFoundException>(() => AcceptanceProfile.Load("/nonexistent/profile.json"));
    }

    private static int[] Plain(TransformerModel target, int[] prompt, int n)
    {
        using var g = new Generator(target);
        return g.Generate(prompt, new GenerationOptions { MaxNewTokens = n }).Tokens;
    }

    private static IEnumerable<TreeSpec> Specs(AcceptanceProfile profile) => new[]
    {
        TreeSpec.Parse("static:3x2x1x1"), TreeSpec.Parse("static:4x2x2x1"), TreeSpec.Parse("sequoia:12").WithProfile(profile),
        TreeSpec.Parse("dynamic:12"), TreeSpec.Parse("dynamic:20:5:3"),
    };

    [Fact]
    public void TinyRandomPairTreesMatchPlainGreedy()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 16);
        using var backend = new CpuBackend(1);
        using var tw = new SyntheticWeights(config, seed: 11);
        using var target = TransformerModel.Create(config, tw, backend);
        using var dw = new SyntheticWeights(config with { Layers = 1 }, seed: 11);
        using var draft = TransformerModel.Create(config with { Layers = 1 }, dw, backend);
        var profile = AcceptanceProfile.Measure(target, draft, new[] { new[] { 1, 5, 9 }, new[] { 1, 2 } }, 40);
        foreach (int[] prompt in new[] { new[] { 1, 5, 9, 3 }, new[] { 1, 2 } })
        {
            int[] expected = Plain(target, prompt, 100);
            foreach (TreeSpec spec in Specs(profile))
            {
                using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "tiny-draft");
                using var spec1 = new Generator(target, drafter);
                var (tokens, stats) = spec1.Generate(prompt, new GenerationOptions { MaxNewTokens = 100, Tree = spec });
                Assert.True(expected.SequenceEqual(tokens), $"{spec}: tree output differs from plain greedy");
                Assert.True(stats.Rounds < 100, $"{spec}: speculation should need fewer target passes than tokens");
                Assert.True(stats.VerifiedTokensPerPass > 1);

                using var lookup = new Generator(target, new PromptLookupDrafter(config.VocabSize));
                Assert.Equal(expected, lookup.Generate(prompt, new GenerationOptions { MaxNewTokens = 100, Tree = spec }).Tokens);
            }
        }
    }

    [Fact]
    public void LookupBranchesCoverSeveralMatches()
    {
        // "1 2 3 | 1 2 4 | 1 2 5 | 1 2" : the suffix "1 2" was followed by 5, 4 and 3.
        int[] sequence = { 1, 2, 3, 9, 1, 2, 4, 9, 1, 2, 5, 9, 1, 2 };
        var drafter = new PromptLookupDrafter(16, maxNgram: 2, minNgram: 2);
        var tree = new DraftTree(16, 16);
        drafter.Propose(sequence, new DraftRequest(3, 12), tree);
        int[] firstLevel = Enumerable.Range(0, tree.Count).Where(i => tree.Parents[i] == -1).Select(i => tree.Tokens[i]).ToArray();
        Assert.Equal(new[] { 5, 4, 3 }, firstLevel); // most recent match first
        Assert.Equal(9, tree.MaxDepth > 1 ? tree.Tokens[tree.FindChild(tree.FindChild(-1, 5), 9)] : -1);
        var chain = new DraftTree(16, 16);
        drafter.Propose(sequence, new DraftRequest(3, 3), chain);
        Assert.True(chain.IsChain);
        Assert.Equal(new[] { 5, 9, 1 }, chain.Tokens.ToArray());
    }

    [Theory]
    [MemberData(nameof(ModelPair.RealPairs), MemberType = typeof(ModelPair))]
    public void RealPairsTreesMatchPlainGreedy(string targetName, string draftName)
    {
        using var pair = ModelPair.Real(targetName, draftName);
        TransformerModel target = pair.Target, draft = pair.Draft;
        var profile = AcceptanceProfile.Load(ProfilePath(targetName, draftName));
        var specs = new[] { TreeSpec.Parse("static:3x2x1x1"), TreeSpec.Parse("sequoia:15").WithProfile(profile), TreeSpec.Parse("dynamic:15") };
        using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, draftName);
        using var spec = new Generator(target, drafter);
        using var lookup = new Generator(target, new PromptLookupDrafter(target.Config.VocabSize));
        foreach (int[] prompt in GreedyEquivalenceTests.ReferencePrompts(targetName).Skip(1).Take(3))
        {
            int[] expected = Plain(target, prompt, 128);
            foreach (TreeSpec s in specs)
            {
                var (tokens, stats) = spec.Generate(prompt, new GenerationOptions { MaxNewTokens = 128, Tree = s });
                Assert.True(expected.SequenceEqual(tokens), $"{targetName}←{draftName} {s}: tree output differs from plain greedy");
                Assert.True(stats.MeanAcceptedPathLength > 1, $"{s}: mean accepted path {stats.MeanAcceptedPathLength} is implausibly short for a real pair");
            }
            Assert.Equal(expected, lookup.Generate(prompt, new GenerationOptions { MaxNewTokens = 128, Tree = TreeSpec.Parse("dynamic:15") }).Tokens);
        }
    }

    [Fact]
    public void SequoiaWithoutProfileIsRefusedClearly()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 16);
        using var backend = new CpuBackend(1);
        using var w = new SyntheticWeights(config, seed: 1);
        using var target = TransformerModel.Create(config, w, backend);
        using var draft = TransformerModel.Create(config, w, backend);
        using var g = new Generator(target, new DraftModelDrafter(draft, SamplingOptions.Greedy, "d"));
        var e = Assert.Throws<GenerationException>(() => g.Generate(new[] { 1 }, new GenerationOptions { Tree = TreeSpec.Parse("sequoia:8") }));
        Assert.Contains("profile", e.Message);
    }

    [Theory]
    [InlineData(0f, "static:3x2x1x1")]
    [InlineData(0f, "dynamic:12:5:3")]
    [InlineData(1f, "static:3x2x1x1")]
    [InlineData(1f, "dynamic:12:5:3")]
    public void BothCachesEqualFreshPrefillAfterTreeRounds(float temperature, string tree)
    {
        using var pair = ModelPair.Tiny();
        TransformerModel target = pair.Target;
        int[] prompt = { 1, 7, 2 };
        var sampling = new SamplingOptions(temperature, Seed: 3);
        using var drafter = new DraftModelDrafter(pair.Draft, sampling, "draft");
        using var generator = new Generator(target, drafter);
        var (tokens, stats) = generator.Generate(prompt, new GenerationOptions { MaxNewTokens = 41, Sampling = sampling, Tree = TreeSpec.Parse(tree) });
        Assert.True(stats.TriedPositions > stats.AcceptedTokens, "the test needs rejected rounds");
        int[] sequence = prompt.Concat(tokens).ToArray();

        // Target: the cache holds a prefix of the sequence, exactly as a fresh prefill would.
        AssertCacheMatchesPrefill(target, generator.TargetState, sequence);

        // Draft: after the last round its cache holds the sequence it saw plus the expanded tree nodes; keeping the
        // accepted ones must move them into place without recompute and match a fresh prefill.
        Assert.True(drafter.TreeRows > 0, "the last round should have left expanded tree nodes in the draft cache");
        int before = drafter.CachedTokens.Count;
        drafter.KeepAccepted(sequence);
        Assert.Equal(drafter.State.Length, drafter.CachedTokens.Count);
        Assert.True(drafter.CachedTokens.SequenceEqual(sequence.Take(drafter.CachedTokens.Count)));
        Assert.True(drafter.CachedTokens.Count >= before);
        AssertCacheMatchesPrefill(pair.Draft, drafter.State, sequence);
    }

    [Fact]
    public void DraftCacheKeepsAcceptedTreeNodesWithoutRecompute()
    {
        var config = BatchForwardTests.TinyConfig(vocab: 16);
        using var backend = new CpuBackend(1);
        using var w = new SyntheticWeights(config, seed: 6);
        using var draft = TransformerModel.Create(config, w, backend);
        using var drafter = new DraftModelDrafter(draft, SamplingOptions.Greedy, "draft");
        int[] sequence = { 1, 4, 9, 2 };
        var tree = new DraftTree(40, 16);
        drafter.Propose(sequence, new DraftRequest(4, 40, TreeSpec.Parse("static:3x2x2x1")), tree);
        Assert.Equal(3 + 6 + 12 + 12, tree.Count);
        // Accept the path through the second root child, its first child and that node's second child.
        int a = Enumerable.Range(0, tree.Count).Where(i => tree.Parents[i] == -1).ElementAt(1);
        int b = Enumerable.Range(0, tree.Count).First(i => tree.Parents[i] == a);
        int c = Enumerable.Range(0, tree.Count).Where(i => tree.Parents[i] == b).ElementAt(1);
        int[] next = sequence.Concat(new[] { tree.Tokens[a], tree.Tokens[b], tree.Tokens[c], 5 }).ToArray();
        drafter.KeepAccepted(next);
        // a and b were expanded (run through the draft), c is a leaf of depth 3 that was expanded too (depth 4 exists).
        Assert.Equal(sequence.Length + 3, drafter.CachedTokens.Count);
        AssertCacheMatchesPrefill(draft, drafter.State, next);
    }

    /// <summary>The next-token logits from <paramref name="state"/> (holding a prefix of <paramref name="sequence"/>)
    /// equal those of a fresh prefill of that prefix.</summary>
    internal static void AssertCacheMatchesPrefill(TransformerModel model, InferenceState state, int[] sequence)
    {
        int cached = state.Length;
        Assert.InRange(cached, 1, sequence.Length);
        using var fresh = model.CreateState();
        model.Forward(fresh, sequence.AsSpan(0, cached));
        int next = cached < sequence.Length ? sequence[cached] : 0;
        float[] expected = model.Forward(fresh, new[] { next }).ToArray();
        float[] actual = model.Forward(state, new[] { next }).ToArray();
        state.Cache.Truncate(cached);
        for (int v = 0; v < expected.Length; v++)
            Assert.True(Math.Abs(expected[v] - actual[v]) <= 1e-4, $"logit {v}: cache after speculation {actual[v]} vs fresh prefill {expected[v]}");
    }
}
