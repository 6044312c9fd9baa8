using System.CommandLine;
using System.Globalization;
using SpecCore.Models.Registry;
using SpecCore.Training;

namespace SpecCore.Cli.Commands;

/// <summary><c>speccore train-head</c>: train an EAGLE-3 or Medusa draft head for a target, in C#.</summary>
public static class TrainHeadCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var defaults = new HeadTrainingOptions { ModelDirectory = "", Kind = HeadKind.Eagle3, Data = Array.Empty<string>(), OutputDirectory = "" };
        var model = new Option<string>("--model", "-m") { Description = "Target model folder or registry name.", Required = true };
        var kind = new Option<string>("--kind") { Description = "Head kind: eagle3 or medusa.", DefaultValueFactory = _ => "eagle3" };
        var data = new Option<string[]>("--data") { Description = "Text files (blank-line separated passages), and/or 'self' for the target's own samples from the benchmark prompts.", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out", "-o") { Description = "Folder to write the head (config.json + safetensors) and its resume state to.", Required = true };
        var steps = new Option<int>("--steps") { Description = "Optimizer updates in all.", DefaultValueFactory = _ => defaults.Steps };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (AdamW, linear warm-up, cosine decay).", DefaultValueFactory = _ => defaults.LearningRate };
        var warmup = new Option<int?>("--warmup") { Description = "Warm-up updates (default: 5% of --steps)." };
        var linear = new Option<bool>("--linear-decay") { Description = "Decay the learning rate linearly instead of by a cosine." };
        var batch = new Option<int>("--batch") { Description = "Sequences per update.", DefaultValueFactory = _ => defaults.Batch };
        var seq = new Option<int>("--seq") { Description = "Tokens per sequence.", DefaultValueFactory = _ => defaults.SequenceLength };
        var ttt = new Option<int>("--ttt-steps") { Description = "EAGLE-3: unrolled training-time-test steps (depths trained).", DefaultValueFactory = _ => defaults.TttSteps };
        var medusaHeads = new Option<int>("--medusa-heads") { Description = "Medusa: number of heads.", DefaultValueFactory = _ => defaults.MedusaHeads };
        var draftVocab = new Option<int?>("--draft-vocab") { Description = "EAGLE-3: draft vocabulary size, the most frequent tokens of the data (default: min(V, 32000))." };
        var topK = new Option<int>("--top-k") { Description = "Entries of each target distribution kept as soft labels.", DefaultValueFactory = _ => defaults.TopK };
        var selfSequences = new Option<int>("--self-sequences") { Description = "Sequences the target samples for --data self.", DefaultValueFactory = _ => defaults.SelfSequences };
        var selfTemperature = new Option<double>("--self-temperature") { Description = "Sampling temperature of --data self (below 1: closer to what greedy decoding sees).", DefaultValueFactory = _ => defaults.SelfTemperature };
        var clip = new Option<double>("--clip") { Description = "Clip gradients to this global norm (0: off).", DefaultValueFactory = _ => defaults.Clip };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay of the matrices.", DefaultValueFactory = _ => defaults.WeightDecay };
        var seed = new Option<int>("--seed") { Description = "Seed of initialisation, sampling and batch order.", DefaultValueFactory = _ => defaults.Seed };
        var evalEvery = new Option<int>("--eval-every") { Description = "Updates between held-out evaluations.", DefaultValueFactory = _ => defaults.EvalEvery };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Updates between checkpoints.", DefaultValueFactory = _ => defaults.CheckpointEvery };
        var resume = new Option<bool>("--resume") { Description = "Continue from the resume state in --out." };
        var threads = CommonOptions.Threads();
        var command = new Command("train-head", "Train a draft head for a target on the CPU: records the target's features and next-token " +
            "distributions over the data, then trains (EAGLE-3 with the training-time test, or Medusa) with AdamW; prints loss and top-1 " +
            "accuracy per update and held-out agreement per depth, writes checkpoints in the public layout (BF16 at the end).")
        {
            model, kind, data, output, steps, lr, warmup, linear, batch, seq, ttt, medusaHeads, draftVocab, topK, selfSequences, selfTemperature, clip,
            weightDecay, seed, evalEvery, checkpointEvery, resume, threads,
        };
        command.SetAction(parse =>
        {
            string kindText = parse.GetValue(kind)!;
            HeadKind headKind = kindText switch
            {
                "eagle3" => HeadKind.Eagle3,
                "medusa" => HeadKind.Medusa,
                _ => throw new ArgumentException($"--kind must be eagle3 or medusa, got '{kindText}'"),
            };
            var options = new HeadTrainingOptions
            {
                ModelDirectory = ModelRegistry.Load().Resolve(parse.GetValue(model)!),
                Kind = headKind,
                Data = parse.GetValue(data)!,
                OutputDirectory = parse.GetValue(output)!,
                Steps = parse.GetValue(steps),
                LearningRate = parse.GetValue(lr),
                WarmupSteps = parse.GetValue(warmup),
                CosineDecay = !parse.GetValue(linear),
                Batch = parse.GetValue(batch),
                SequenceLength = parse.GetValue(seq),
                TttSteps = parse.GetValue(ttt),
                MedusaHeads = parse.GetValue(medusaHeads),
                DraftVocab = parse.GetValue(draftVocab),
                TopK = parse.GetValue(topK),
                SelfSequences = parse.GetValue(selfSequences),
                SelfTemperature = parse.GetValue(selfTemperature),
                Clip = parse.GetValue(clip),
                WeightDecay = parse.GetValue(weightDecay),
                Seed = parse.GetValue(seed),
                EvalEvery = parse.GetValue(evalEvery),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                Resume = parse.GetValue(resume),
                Threads = CommonOptions.ValidateThreads(parse.GetValue(threads)),
            };
            TextWriter writer = parse.InvocationConfiguration.Output ?? Console.Out;
            HeadTrainingSummary summary = HeadTrainer.Run(options, line => writer.WriteLine(line));
            writer.WriteLine(string.Format(CultureInfo.InvariantCulture, "done: {0} updates, loss {1:F4} -> {2:F4}, held-out top-1 {3}, chain acceptance {4:F2}, {5:F1} s",
                summary.Steps, summary.FirstLoss, summary.FinalLoss, string.Join(" ", summary.HeldOutTop1.Select(a => a.ToString("F3", CultureInfo.InvariantCulture))),
                summary.HeldOutChainAcceptance, summary.Seconds));
            return 0;
        });
        return command;
    }
}
