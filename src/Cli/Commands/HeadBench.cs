using System.Globalization;
using SpecCore.Kernels.Sampling;
using SpecCore.Models;
using SpecCore.Speculation.Benchmarking;
using SpecCore.Speculation.Heads;
using SpecCore.Tensors;

namespace SpecCore.Cli.Commands;

/// <summary><c>bench --heads-synthetic</c>: random heads of the target's shape, their draft-step costs, and the oracle-α rows.</summary>
internal static class HeadBench
{
    public static List<SpeculativeRow> Synthetic(TransformerModel target, string kind, double[] alphas, string[] ks, int tokens, int? draftVocab,
        int rank, int medusaHeads, DType weightType)
    {
        var c = CultureInfo.InvariantCulture;
        string root = Directory.CreateTempSubdirectory("speccore-heads-").FullName;
        try
        {
            double targetStep = DecodeBenchmark.PrefillAndDecode(target, 8, 64, 2).Decode.SecondsPerPass;
            if (kind.Equals("medusa", StringComparison.OrdinalIgnoreCase))
            {
                string folder = Path.Combine(root, "medusa");
                SyntheticHeads.WriteMedusa(target.Config, folder, medusaHeads);
                double round;
                using (var h = MedusaHeads.Load(folder, target, weightType)) round = HeadStepBenchmark.MedusaRound(h);
                Console.WriteLine(string.Format(c, "medusa: {0} heads over the full vocabulary of {1}: {2:F3} ms per round ({3:P0} of a target step of {4:F3} ms)",
                    medusaHeads, target.Config.VocabSize, round * 1e3, round / targetStep, targetStep * 1e3));
                // Medusa drafts a whole chain from one round of heads: its cost per drafted token is a round over k.
                return SpeculativeBenchmark.Synthetic(target, () => new MedusaDrafter(MedusaHeads.Load(folder, target, weightType), target.DefaultCapacity, "medusa"),
                    round / medusaHeads, alphas, ks, tokens, s => Console.Error.WriteLine($"  {s}"));
            }
            if (!kind.Equals("eagle3", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--heads-synthetic takes eagle3 or medusa, got '{kind}'");
            int v = target.Config.VocabSize;
            int vd = draftVocab ?? Math.Max(1, v / 4);
            if (vd < 1 || vd > v) throw new ArgumentException($"--draft-vocab must be between 1 and the target's {v}, got {vd}");
            var variants = new (string Name, int Vocab, int? Rank)[] { ("full vocabulary", v, null), ("reduced vocabulary", vd, null), ("reduced + low-rank", vd, rank) };
            var steps = new double[variants.Length];
            for (int i = 0; i < variants.Length; i++)
            {
                string folder = Path.Combine(root, $"eagle3-{i}");
                SyntheticHeads.WriteEagle3(target.Config, folder, variants[i].Vocab, variants[i].Rank);
                using var head = Eagle3Head.Load(folder, target, weightType);
                steps[i] = HeadStepBenchmark.Eagle3Step(head);
                Console.WriteLine(string.Format(c, "eagle3 draft step, {0} ({1} ids{2}): {3:F3} ms ({4:P0} of a target step of {5:F3} ms), LM head {6:F1} MB",
                    variants[i].Name, variants[i].Vocab, variants[i].Rank is int r ? $", rank {r}" : "", steps[i] * 1e3, steps[i] / targetStep, targetStep * 1e3,
                    head.LmHeadBytes / 1e6));
            }
            var rows = new List<SpeculativeRow>();
            foreach (int i in new[] { 1, 2 })
            {
                string folder = Path.Combine(root, $"eagle3-{i}");
                string name = i == 1 ? "eagle3" : "eagle3-lowrank";
                rows.AddRange(SpeculativeBenchmark.Synthetic(target,
                    () => new Eagle3Drafter(Eagle3Head.Load(folder, target, weightType), target.DefaultCapacity, SamplingOptions.Greedy, name),
                    steps[i], alphas, ks, tokens, s => Console.Error.WriteLine($"  {name}: {s}")));
            }
            return rows;
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
