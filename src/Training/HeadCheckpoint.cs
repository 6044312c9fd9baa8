using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpecCore.Models.Safetensors;
using SpecCore.Tensors;

namespace SpecCore.Training;

/// <summary>Writes a head in the public layout (EAGLE-3 layout a: <c>model.safetensors</c> + <c>config.json</c>; Medusa:
/// <c>medusa_lm_head.safetensors</c> + <c>config.json</c>) and the F32 resume state (parameters, AdamW moments, step) in
/// <c>resume/trainer_state.safetensors</c>, and reads the resume state back.</summary>
internal static class HeadCheckpoint
{
    /// <summary>File of an EAGLE-3 head's weights in its folder.</summary>
    public const string EagleWeightsFile = "model.safetensors";
    /// <summary>File of Medusa heads' weights in their folder.</summary>
    public const string MedusaWeightsFile = "medusa_lm_head.safetensors";

    /// <summary>Path of the resume state in <paramref name="directory"/>.</summary>
    public static string StatePath(string directory) => Path.Combine(directory, "resume", "trainer_state.safetensors");

    /// <summary>Writes the EAGLE-3 head: its tensors, d2t [Vd] I64, t2d [V] BOOL, and config.json.</summary>
    public static void WriteEagle3(string directory, ParameterSet<float> set, Eagle3HeadShape shape, DraftVocabulary vocabulary,
        double ropeTheta, int maxPositions, bool bf16)
    {
        Directory.CreateDirectory(directory);
        var w = new SafetensorsWriter();
        foreach (var p in set.All) w.Add(p.Name, p.Value, p.Shape, bf16 ? DType.BF16 : DType.F32);
        w.Add("d2t", vocabulary.Offsets(), new[] { vocabulary.Size });
        var t2d = new bool[shape.TargetVocabSize];
        foreach (int id in vocabulary.DraftToTarget) t2d[id] = true;
        w.Add("t2d", t2d, new[] { t2d.Length });
        WriteAtomically(w, Path.Combine(directory, EagleWeightsFile), new Dictionary<string, string> { ["format"] = "pt" });

        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLMEagle3"),
            ["model_type"] = "llama",
            ["hidden_size"] = shape.HiddenSize,
            ["num_attention_heads"] = shape.Heads,
            ["num_key_value_heads"] = shape.KvHeads,
            ["head_dim"] = shape.HeadDim,
            ["intermediate_size"] = shape.IntermediateSize,
            ["num_hidden_layers"] = 1,
            ["rms_norm_eps"] = shape.RmsNormEps,
            ["rope_theta"] = ropeTheta,
            ["max_position_embeddings"] = maxPositions,
            ["vocab_size"] = shape.TargetVocabSize,
            ["draft_vocab_size"] = shape.DraftVocabSize,
            ["eagle_aux_hidden_state_layer_ids"] = new JsonArray(shape.AuxLayers.Select(l => (JsonNode)l).ToArray()),
            ["fc_norm"] = shape.FcNorm,
            ["norm_output"] = shape.NormOutput,
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = bf16 ? "bfloat16" : "float32",
        };
        WriteJson(Path.Combine(directory, "config.json"), config);
    }

    /// <summary>Writes Medusa heads and their config.json.</summary>
    public static void WriteMedusa(string directory, ParameterSet<float> set, int heads, int hidden, int vocab, bool bf16)
    {
        Directory.CreateDirectory(directory);
        var w = new SafetensorsWriter();
        foreach (var p in set.All) w.Add(p.Name, p.Value, p.Shape, bf16 ? DType.BF16 : DType.F32);
        WriteAtomically(w, Path.Combine(directory, MedusaWeightsFile), new Dictionary<string, string> { ["format"] = "pt" });
        var config = new JsonObject
        {
            ["medusa_num_heads"] = heads,
            ["medusa_num_layers"] = 1,
            ["hidden_size"] = hidden,
            ["vocab_size"] = vocab,
            ["torch_dtype"] = bf16 ? "bfloat16" : "float32",
        };
        WriteJson(Path.Combine(directory, "config.json"), config);
    }

    // Through a temporary name, so that an interrupted checkpoint leaves the previous one intact.
    private static void WriteAtomically(SafetensorsWriter w, string path, IReadOnlyDictionary<string, string> metadata)
    {
        string temporary = path + ".tmp";
        w.Write(temporary, metadata);
        File.Move(temporary, path, overwrite: true);
    }

    private static void WriteJson(string path, JsonObject node)
    {
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Writes the resume state: F32 parameters, AdamW moments, the draft vocabulary (as F32 target ids) and
    /// the update count.</summary>
    public static void WriteState(string directory, ParameterSet<float> set, AdamW optimizer, DraftVocabulary? vocabulary, HeadKind kind)
    {
        string path = StatePath(directory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var w = new SafetensorsWriter();
        for (int i = 0; i < set.All.Count; i++)
        {
            var p = set.All[i];
            w.Add("param/" + p.Name, p.Value, p.Shape);
            w.Add("adam_m/" + p.Name, optimizer.FirstMoments[i], p.Shape);
            w.Add("adam_v/" + p.Name, optimizer.SecondMoments[i], p.Shape);
        }
        if (vocabulary != null) w.Add("draft_to_target", vocabulary.DraftToTarget.Select(x => (float)x).ToArray(), new[] { vocabulary.Size });
        WriteAtomically(w, path, new Dictionary<string, string>
        {
            ["step"] = optimizer.Steps.ToString(CultureInfo.InvariantCulture),
            ["kind"] = kind.ToString(),
        });
    }

    /// <summary>Reads the resume state into <paramref name="set"/> and <paramref name="optimizer"/>; returns the draft
    /// vocabulary's target ids when the state holds one. Errors name the file and the tensor.</summary>
    public static int[]? ReadState(string directory, ParameterSet<float> set, AdamW optimizer, HeadKind kind)
    {
        string path = StatePath(directory);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no resume state to continue from (train without --resume first)", path);
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("kind", out string? stored) || stored != kind.ToString())
            throw new InvalidDataException($"{path}: the state is of a {stored ?? "unknown"} head, not {kind}");
        if (!file.Metadata.TryGetValue("step", out string? stepText) || !long.TryParse(stepText, NumberStyles.Integer, CultureInfo.InvariantCulture, out long step) || step < 0)
            throw new InvalidDataException($"{path}: metadata 'step' is missing or not a count");
        for (int i = 0; i < set.All.Count; i++)
        {
            var p = set.All[i];
            Read(file, path, "param/" + p.Name, p.Value);
            Read(file, path, "adam_m/" + p.Name, optimizer.FirstMoments[i]);
            Read(file, path, "adam_v/" + p.Name, optimizer.SecondMoments[i]);
        }
        optimizer.Steps = step;
        if (!file.Tensors.TryGetValue("draft_to_target", out var d2t)) return null;
        var ids = new float[d2t.ElementCount];
        Read(file, path, "draft_to_target", ids);
        return ids.Select(x => (int)x).ToArray();
    }

    private static unsafe void Read(SafetensorsFile file, string path, string name, float[] destination)
    {
        if (!file.Tensors.TryGetValue(name, out var t))
            throw new InvalidDataException($"{path}: tensor '{name}' is missing; the state was written with other options");
        if (t.DType != DType.F32 || t.ElementCount != destination.Length)
            throw new InvalidDataException($"{path}: tensor '{name}' has shape {t.ShapeText}, not the {destination.Length} F32 values these options need");
        new ReadOnlySpan<float>((void*)t.Pointer, destination.Length).CopyTo(destination);
    }
}
