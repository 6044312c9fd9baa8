using System.Text.Json;
using SpecCore.Models.Safetensors;
using SpecCore.Training;

namespace SpecCore.Tests.Training;

/// <summary>End-to-end training runs on a tiny random target: the loss goes down, resuming equals not stopping, and
/// checkpoints round-trip.</summary>
public sealed class HeadTrainerTests
{
    private static HeadTrainingOptions Options(string model, string output, HeadKind kind, int steps = 12) => new()
    {
        ModelDirectory = model, Kind = kind, Data = new[] { "self" }, OutputDirectory = output, Steps = steps,
        LearningRate = 1e-2, Batch = 2, SequenceLength = 24, TttSteps = 2, MedusaHeads = 2, DraftVocab = 64, TopK = 4,
        SelfSequences = 8, Threads = 2, EvalEvery = 1000, CheckpointEvery = 1000, Seed = 5,
    };

    [Theory]
    [InlineData(HeadKind.Eagle3)]
    [InlineData(HeadKind.Medusa)]
    public void LossGoesDown(HeadKind kind)
    {
        string root = TinyTarget.TempDirectory("loss");
        string model = TinyTarget.Create(Path.Combine(root, "target"));
        var summary = HeadTrainer.Run(Options(model, Path.Combine(root, "head"), kind, steps: 25), _ => { });
        Assert.True(summary.FinalLoss < 0.9 * summary.FirstLoss, $"loss {summary.FirstLoss} -> {summary.FinalLoss}");
        Directory.Delete(root, recursive: true);
    }

    [Theory]
    [InlineData(HeadKind.Eagle3)]
    [InlineData(HeadKind.Medusa)]
    public void ResumingGivesTheUninterruptedResult(HeadKind kind)
    {
        string root = TinyTarget.TempDirectory("resume");
        string model = TinyTarget.Create(Path.Combine(root, "target"));
        string straight = Path.Combine(root, "straight"), stopped = Path.Combine(root, "stopped");
        HeadTrainer.Run(Options(model, straight, kind, steps: 8), _ => { });
        HeadTrainer.Run(Options(model, stopped, kind, steps: 8) with { StopAfter = 3 }, _ => { });
        var resumed = HeadTrainer.Run(Options(model, stopped, kind, steps: 8) with { Resume = true }, _ => { });
        Assert.Equal(8, resumed.Steps);

        using var a = SafetensorsFile.Open(HeadCheckpoint.StatePath(straight));
        using var b = SafetensorsFile.Open(HeadCheckpoint.StatePath(stopped));
        Assert.Equal("8", b.Metadata["step"]);
        Assert.Equal(a.Tensors.Keys.OrderBy(k => k), b.Tensors.Keys.OrderBy(k => k));
        foreach (var (name, t) in a.Tensors)
            Assert.True(Bytes(t).SequenceEqual(Bytes(b.Tensors[name])), $"{name} differs after resuming");
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public void ResumeStateRoundTrips()
    {
        string dir = TinyTarget.TempDirectory("state");
        var shape = TinyHeads.Shape();
        var set = Eagle3Parameters.Create<float>(shape);
        TinyHeads.Randomize(set, seed: 1);
        var opt = new AdamW(set.All.Select(p => p.Value.Length).ToArray()) { Steps = 17 };
        for (int i = 0; i < set.All.Count; i++)
            for (int x = 0; x < opt.FirstMoments[i].Length; x++) { opt.FirstMoments[i][x] = x * 0.5f + i; opt.SecondMoments[i][x] = x + 0.25f; }
        var vocab = TinyHeads.Vocabulary(shape.DraftVocabSize, shape.TargetVocabSize);
        HeadCheckpoint.WriteState(dir, set, opt, vocab, HeadKind.Eagle3);

        var set2 = Eagle3Parameters.Create<float>(shape);
        var opt2 = new AdamW(set2.All.Select(p => p.Value.Length).ToArray());
        int[]? ids = HeadCheckpoint.ReadState(dir, set2, opt2, HeadKind.Eagle3);
        Assert.Equal(vocab.DraftToTarget, ids);
        Assert.Equal(17, opt2.Steps);
        for (int i = 0; i < set.All.Count; i++)
        {
            Assert.Equal(set.All[i].Value, set2.All[i].Value);
            Assert.Equal(opt.FirstMoments[i], opt2.FirstMoments[i]);
            Assert.Equal(opt.SecondMoments[i], opt2.SecondMoments[i]);
        }
        var wrongKind = Assert.Throws<InvalidDataException>(() => HeadCheckpoint.ReadState(dir, set2, opt2, HeadKind.Medusa));
        Assert.Contains("trainer_state.safetensors", wrongKind.Message);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Eagle3HeadFileHasThePublicLayout()
    {
        string dir = TinyTarget.TempDirectory("layout");
        var shape = TinyHeads.Shape();
        var set = Eagle3Parameters.Create<float>(shape);
        TinyHeads.Randomize(set, seed: 2);
        var vocab = TinyHeads.Vocabulary(shape.DraftVocabSize, shape.TargetVocabSize);
        HeadCheckpoint.WriteEagle3(dir, set, shape, vocab, ropeTheta: 10000, maxPositions: 64, bf16: true);

        byte[] file = File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));
        long headerLength = BitConverter.ToInt64(file, 0);
        Assert.Equal(0, (8 + headerLength) % 8);
        using var header = JsonDocument.Parse(file.AsMemory(8, (int)headerLength));
        long dataStart = 8 + headerLength;
        foreach (var p in set.All)
        {
            JsonElement e = header.RootElement.GetProperty(p.Name);
            Assert.Equal("BF16", e.GetProperty("dtype").GetString());
            Assert.Equal(p.Shape, e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray());
            long begin = e.GetProperty("data_offsets")[0].GetInt64();
            for (int i = 0; i < p.Value.Length; i++)
            {
                float stored = BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(file, (int)(dataStart + begin + 2 * i)) << 16);
                Assert.True(Math.Abs(stored - p.Value[i]) <= Math.Abs(p.Value[i]) / 128, $"{p.Name}[{i}]");
            }
        }
        JsonElement d2t = header.RootElement.GetProperty("d2t");
        Assert.Equal("I64", d2t.GetProperty("dtype").GetString());
        long d2tBegin = d2t.GetProperty("data_offsets")[0].GetInt64();
        for (int d = 0; d < vocab.Size; d++)
            Assert.Equal(vocab.DraftToTarget[d], d + BitConverter.ToInt64(file, (int)(dataStart + d2tBegin + 8 * d)));
        Assert.Equal("BOOL", header.RootElement.GetProperty("t2d").GetProperty("dtype").GetString());

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
        Assert.Equal(shape.DraftVocabSize, config.RootElement.GetProperty("draft_vocab_size").GetInt32());
        Assert.Equal(shape.AuxLayers, config.RootElement.GetProperty("eagle_aux_hidden_state_layer_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        Assert.True(config.RootElement.GetProperty("fc_norm").GetBoolean());
        Assert.True(config.RootElement.GetProperty("norm_output").GetBoolean());
        Directory.Delete(dir, recursive: true);
    }

    private static unsafe byte[] Bytes(SpecCore.Tensors.HostTensor t) => new ReadOnlySpan<byte>((void*)t.Pointer, (int)t.ByteLength).ToArray();
}
