using System.Diagnostics;
using System.Globalization;
using System.Text;
using SpecCore.Kernels.Cpu;
using SpecCore.Models;
using SpecCore.Models.Families;
using SpecCore.Models.Tokenization;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Heads;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>Trains a draft head for a target: records the target over the data, then runs AdamW over batches of it
/// with held-out evaluation, checkpoints and resume (see <see cref="HeadTrainingOptions"/>).</summary>
public static class HeadTrainer
{
    /// <summary>Runs the training <paramref name="options"/> describe; progress lines go to <paramref name="log"/>.</summary>
    public static HeadTrainingSummary Run(HeadTrainingOptions options, Action<string> log)
    {
        options.Validate();
        if (options.Resume && !File.Exists(HeadCheckpoint.StatePath(options.OutputDirectory)))
            throw new FileNotFoundException($"{HeadCheckpoint.StatePath(options.OutputDirectory)}: no resume state to continue from (train without --resume first)");
        var c = CultureInfo.InvariantCulture;
        long started = Stopwatch.GetTimestamp();
        using var backend = new CpuBackend(options.Threads);
        using var target = LoadedModel.Load(options.ModelDirectory, backend);
        ModelConfig tc = target.Config;
        if (options.SequenceLength > tc.MaxPositions)
            throw new ArgumentException($"--seq {options.SequenceLength} exceeds the target's context of {tc.MaxPositions}");
        ITextTokenizer tokenizer = TokenizerLoader.Load(options.ModelDirectory);
        bool eagle = options.Kind == HeadKind.Eagle3;
        int h = tc.HiddenSize, v = tc.VocabSize, len = options.SequenceLength, batchSize = options.Batch;

        // Data: token sequences, then the target's features and distributions over each.
        var sequences = new List<int[]>();
        foreach (string source in options.Data)
        {
            if (source == "self")
            {
                log($"sampling {options.SelfSequences} sequences of {len} tokens from the target at temperature {options.SelfTemperature:G3} over the benchmark prompts...");
                sequences.AddRange(TargetRecorder.FromSelf(target.Model, tokenizer, BenchmarkPrompts.TinyStories, options.SelfSequences, len, options.Seed, log,
                    (float)options.SelfTemperature));
            }
            else sequences.AddRange(TargetRecorder.FromText(new[] { source }, tokenizer, len));
        }
        foreach (int[] s in sequences)
            foreach (int id in s)
                if ((uint)id >= (uint)v) throw new InvalidDataException($"token id {id} is outside the target's vocabulary of {v}");
        int heldOut = batchSize * Math.Max(1, (int)Math.Round(sequences.Count * 0.05 / batchSize));
        if (sequences.Count < heldOut + batchSize)
            throw new ArgumentException($"--data gives {sequences.Count} sequences of {len} tokens; at least {heldOut + batchSize} are needed for --batch {batchSize} (one held-out batch and one to train on)");
        Shuffle(sequences, new Random(options.Seed));
        int trainCount = sequences.Count - heldOut;

        int[] layers = eagle ? EagleFeatureLayers.For(tc.Layers) : Array.Empty<int>();
        var recording = new TargetRecording(eagle ? 3 * h : h, options.TopK, len);
        using (var recorder = new TargetRecorder(target.Model, layers, len))
        {
            for (int i = 0; i < sequences.Count; i++) recorder.Record(sequences[i], recording);
        }
        log(string.Format(c, "recorded the target over {0} sequences × {1} tokens ({2} held out){3} in {4:F1} s", sequences.Count, len, heldOut,
            eagle ? $", features = inputs of layers {string.Join(",", layers)}" : ", features = final hidden state", Elapsed(started)));

        float[] embedding = ReadMatrix(target.Weights, WeightMap.Embedding(tc).Name, v, h);
        string lmName = tc.TieWordEmbeddings || !target.Weights.Contains(WeightMap.LmHead(tc).Name) ? WeightMap.Embedding(tc).Name : WeightMap.LmHead(tc).Name;
        float[] lmHead = ReadMatrix(target.Weights, lmName, v, h);

        using var pool = new WorkerPool(options.Threads ?? WorkerPool.DefaultThreadCount);
        ParameterSet<float> set;
        ITrainingPass<float> pass;
        DraftVocabulary? vocabulary = null;
        Eagle3HeadShape? shape = null;
        int depths;
        AdamW optimizer;
        int[]? resumedVocab = null;
        if (eagle)
        {
            int draftSize = Math.Min(options.DraftVocab ?? Math.Min(v, 32000), v);
            shape = new Eagle3HeadShape
            {
                HiddenSize = h, Heads = tc.Heads, KvHeads = tc.KvHeads, HeadDim = tc.HeadDim, IntermediateSize = tc.IntermediateSize,
                DraftVocabSize = draftSize, TargetVocabSize = v, RmsNormEps = tc.RmsNormEps, AuxLayers = layers,
            };
            set = Eagle3Parameters.Create<float>(shape);
            optimizer = new AdamW(set.All.Select(p => p.Value.Length).ToArray(), weightDecay: options.WeightDecay);
            if (options.Resume) resumedVocab = HeadCheckpoint.ReadState(options.OutputDirectory, set, optimizer, options.Kind);
            if (resumedVocab != null)
            {
                var counts = new long[v];
                foreach (int id in resumedVocab) counts[id] = 1;
                vocabulary = DraftVocabulary.FromCounts(counts, resumedVocab.Length);
            }
            else vocabulary = DraftVocabulary.FromCounts(recording.TokenCounts(v, trainCount), draftSize);
            if (!options.Resume) Eagle3Parameters.Initialize(set, options.Seed, 0.02f, lmHead, vocabulary);
            pass = new Eagle3TrainingPass<float>(shape, set, embedding, tc.RopeInverseFrequencies(), vocabulary, pool, batchSize, len, options.TttSteps);
            depths = options.TttSteps;
            log(string.Format(c, "EAGLE-3 head: {0:F2} M parameters, draft vocabulary {1} of {2} (covers {3:P1} of training tokens), TTT {4} steps",
                set.Count / 1e6, draftSize, v, Coverage(recording.TokenCounts(v, trainCount), vocabulary), options.TttSteps));
        }
        else
        {
            set = MedusaTrainingPass<float>.CreateParameters(options.MedusaHeads, h, v);
            optimizer = new AdamW(set.All.Select(p => p.Value.Length).ToArray(), weightDecay: options.WeightDecay);
            if (options.Resume) HeadCheckpoint.ReadState(options.OutputDirectory, set, optimizer, options.Kind);
            else MedusaTrainingPass<float>.Initialize(set, options.MedusaHeads, lmHead);
            pass = new MedusaTrainingPass<float>(set, options.MedusaHeads, h, v, pool, batchSize, len);
            depths = options.MedusaHeads;
            log(string.Format(c, "Medusa: {0} heads, {1:F2} M parameters, soft labels = the target's own distributions (top {2})", options.MedusaHeads, set.Count / 1e6, options.TopK));
        }

        int first = (int)optimizer.Steps;
        if (first >= options.Steps) throw new ArgumentException($"the resume state is at step {first}; --steps {options.Steps} leaves nothing to do");
        var schedule = new LearningRateSchedule(options.LearningRate, options.WarmupSteps ?? Math.Max(1, options.Steps / 20), options.Steps, options.CosineDecay);
        var batch = new HeadBatch<float>(batchSize, len, h, options.TopK);
        Directory.CreateDirectory(options.OutputDirectory);
        string logPath = Path.Combine(options.OutputDirectory, "resume", "training_log.tsv");
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        if (!options.Resume) File.WriteAllText(logPath, "step\tloss\t" + string.Join("\t", Enumerable.Range(0, depths).Select(d => $"top1_{d}")) + "\tlr\tgrad_norm\tseconds\n");

        void Save(bool final)
        {
            if (eagle) HeadCheckpoint.WriteEagle3(options.OutputDirectory, set, shape!, vocabulary!, tc.RopeTheta, tc.MaxPositions, bf16: final);
            else HeadCheckpoint.WriteMedusa(options.OutputDirectory, set, options.MedusaHeads, h, v, bf16: final);
            HeadCheckpoint.WriteState(options.OutputDirectory, set, optimizer, vocabulary, options.Kind);
        }

        PassResult Evaluate()
        {
            var total = PassResult.Empty(depths);
            for (int at = trainCount; at + batchSize <= sequences.Count; at += batchSize)
            {
                for (int s = 0; s < batchSize; s++) recording.CopyTo(at + s, batch, s);
                total.Add(pass.Run(batch, backward: false));
            }
            return total;
        }

        double firstLoss = double.NaN, lastLoss = double.NaN;
        PassResult? lastEval = null;
        int stopAt = Math.Min(options.Steps, options.StopAfter ?? options.Steps);
        long trainStart = Stopwatch.GetTimestamp();
        for (int step = first; step < stopAt; step++)
        {
            // The batch of a step depends only on the seed and the step, so a resumed run sees the same batches.
            var pick = new Random(HashCode.Combine(options.Seed, step));
            for (int s = 0; s < batchSize; s++) recording.CopyTo(pick.Next(trainCount), batch, s);
            set.ZeroGradients();
            PassResult r = pass.Run(batch, backward: true);
            double lr = schedule.At(step);
            double norm = optimizer.Step(set, lr, options.Clip);
            if (!double.IsFinite(r.Loss)) throw new InvalidOperationException($"the loss became {r.Loss} at step {step + 1}; lower --lr");
            if (double.IsNaN(firstLoss)) firstLoss = r.Loss;
            lastLoss = r.Loss;
            string top1 = string.Join(" ", Enumerable.Range(0, depths).Select(d => (r.Correct[d] / (double)Math.Max(1, r.Counted[d])).ToString("F3", c)));
            log(string.Format(c, "step {0}/{1} loss {2:F4} top1 {3} lr {4:E2} |g| {5:F3} {6:F1} s", step + 1, options.Steps, r.Loss, top1, lr, norm, Elapsed(started)));
            File.AppendAllText(logPath, string.Format(c, "{0}\t{1:F5}\t{2}\t{3:E3}\t{4:F4}\t{5:F1}\n", step + 1, r.Loss, top1.Replace(' ', '\t'), lr, norm, Elapsed(started)));
            bool last = step + 1 == stopAt;
            if ((step + 1) % options.EvalEvery == 0 || last)
            {
                lastEval = Evaluate();
                log(EvalLine(lastEval, depths, eagle));
            }
            if ((step + 1) % options.CheckpointEvery == 0 || last) Save(final: step + 1 == options.Steps);
        }
        log(string.Format(c, "trained {0} updates in {1:F1} s ({2:F0} tokens/s); head written to {3}", stopAt - first, Elapsed(trainStart),
            (stopAt - first) * (double)batchSize * len / Math.Max(1e-9, Elapsed(trainStart)), options.OutputDirectory));
        lastEval ??= Evaluate();
        return new HeadTrainingSummary
        {
            Steps = stopAt,
            FirstLoss = firstLoss,
            FinalLoss = lastLoss,
            HeldOutTop1 = Enumerable.Range(0, depths).Select(d => lastEval.Correct[d] / (double)Math.Max(1, lastEval.Counted[d])).ToArray(),
            HeldOutChainAcceptance = lastEval.ChainAccepted / (double)Math.Max(1, lastEval.ChainPositions),
            TrainingTokens = (long)trainCount * len,
            Seconds = Elapsed(started),
        };
    }

    private static string EvalLine(PassResult e, int depths, bool eagle)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(string.Format(c, "held-out: loss {0:F4}, top-1 agreement with the target per {1}:", e.Loss / Math.Max(1, e.Batches), eagle ? "depth" : "head"));
        for (int d = 0; d < depths; d++) sb.Append(string.Format(c, " {0:F3}", e.Correct[d] / (double)Math.Max(1, e.Counted[d])));
        sb.Append(string.Format(c, "; greedy chain of {0} accepts {1:F2} drafts per pass", depths, e.ChainAccepted / (double)Math.Max(1, e.ChainPositions)));
        return sb.ToString();
    }

    private static double Coverage(long[] counts, DraftVocabulary vocabulary)
    {
        long all = 0, kept = 0;
        for (int i = 0; i < counts.Length; i++) all += counts[i];
        foreach (int id in vocabulary.DraftToTarget) kept += counts[id];
        return all == 0 ? 0 : kept / (double)all;
    }

    private static float[] ReadMatrix(IWeightSource weights, string name, int rows, int cols)
    {
        HostTensor t = weights.Get(name, rows, cols);
        var result = new float[(long)rows * cols];
        for (int r = 0; r < rows; r++) WeightConversion.ReadRowAsF32(t, r, result.AsSpan(r * cols, cols));
        return result;
    }

    private static void Shuffle(List<int[]> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static double Elapsed(long since) => Stopwatch.GetElapsedTime(since).TotalSeconds;
}
