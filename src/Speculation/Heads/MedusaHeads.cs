using System.Text.Json;
using SpecCore.Kernels;
using SpecCore.Models;
using SpecCore.Models.Families;
using SpecCore.Tensors;

namespace SpecCore.Speculation.Heads;

/// <summary>
/// Medusa heads in the public layout (<c>medusa_lm_head.safetensors</c> with config.json beside it:
/// medusa_num_heads, medusa_num_layers, hidden_size): head i is medusa_num_layers ResBlocks
/// x ← x + SiLU(W x + b) (<c>{i}.{j}.linear.weight/.bias</c>) and an LM head <c>{i}.{L}.weight</c> [V, H] over the
/// target's vocabulary. Its input is the target's final post-norm hidden state at the last committed position t;
/// head i predicts token t + 2 + i. Runs on the target's backend.
/// </summary>
public sealed class MedusaHeads : IDisposable
{
    private readonly HeadTensors _tensors;
    private readonly IBackend _b;
    private readonly DeviceTensor[][] _w;      // [head][layer] [H, H]
    private readonly DeviceTensor[][] _bias;   // [head][layer] [H] F32
    private readonly DeviceTensor[] _lm;       // [head] [V, H]
    private readonly DeviceTensor _ones;       // [1, H] of 1: SiLU(x) = SwiGlu(x, 1)
    private readonly DeviceTensor _x, _t;      // [1, H] the running input, the ResBlock branch
    private readonly DeviceTensor[] _logits;   // [head] [1, V]

    private MedusaHeads(HeadTensors t, IBackend b, int heads, int layers, int hidden, int vocab, DeviceTensor[][] w, DeviceTensor[][] bias, DeviceTensor[] lm)
    {
        _tensors = t;
        _b = b;
        HeadCount = heads;
        Layers = layers;
        Hidden = hidden;
        VocabSize = vocab;
        (_w, _bias, _lm) = (w, bias, lm);
        _ones = t.UploadVector("ones", Enumerable.Repeat(1f, hidden).ToArray());
        _x = b.Allocate(DType.F32, 1, hidden);
        _t = b.Allocate(DType.F32, 1, hidden);
        _logits = new DeviceTensor[heads];
        for (int i = 0; i < heads; i++) _logits[i] = b.Allocate(DType.F32, 1, vocab);
        HostLogits = new float[heads * vocab];
    }

    /// <summary>Number of heads (the deepest draft).</summary>
    public int HeadCount { get; }
    /// <summary>ResBlocks per head.</summary>
    public int Layers { get; }
    /// <summary>Hidden size (the target's).</summary>
    public int Hidden { get; }
    /// <summary>The target's vocabulary.</summary>
    public int VocabSize { get; }
    /// <summary>The backend the heads run on.</summary>
    public IBackend Backend => _b;
    /// <summary>Logits of every head after <see cref="Forward"/> ([heads, V]).</summary>
    internal float[] HostLogits { get; }

    /// <summary>Loads the heads from <paramref name="path"/> (a folder or the safetensors file) for <paramref name="target"/>;
    /// a wrong shape or a missing key is refused with one line naming the file and the key.</summary>
    public static MedusaHeads Load(string path, TransformerModel target, DType? weightType = null)
    {
        var (weightsPath, configPath) = HeadFiles.Resolve(path);
        if (!File.Exists(configPath)) throw new InvalidDataException($"{configPath}: the Medusa heads' config.json is missing");
        int heads, layers, hidden;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{configPath}: the config is not a JSON object");
            var r = new ConfigReader(doc.RootElement, configPath);
            heads = r.RequiredInt("medusa_num_heads");
            layers = r.OptionalInt("medusa_num_layers") ?? 1;
            hidden = r.OptionalInt("hidden_size") ?? target.Config.HiddenSize;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath}: not valid JSON ({e.Message.Split('.')[0]})");
        }
        if (hidden != target.Config.HiddenSize)
            throw new InvalidDataException($"{configPath}: field 'hidden_size' is {hidden} but the target's hidden size is {target.Config.HiddenSize}");
        int v = target.Config.VocabSize;
        var t = new HeadTensors(weightsPath, target.Backend);
        try
        {
            DType dtype = weightType ?? t.StoredType("0.0.linear.weight");
            var w = new DeviceTensor[heads][];
            var bias = new DeviceTensor[heads][];
            var lm = new DeviceTensor[heads];
            for (int i = 0; i < heads; i++)
            {
                w[i] = new DeviceTensor[layers];
                bias[i] = new DeviceTensor[layers];
                for (int j = 0; j < layers; j++)
                {
                    w[i][j] = t.Matrix($"{i}.{j}.linear.weight", hidden, hidden, dtype);
                    bias[i][j] = t.Vector($"{i}.{j}.linear.bias", hidden);
                }
                lm[i] = t.Matrix($"{i}.{layers}.weight", v, hidden, dtype);
            }
            return new MedusaHeads(t, target.Backend, heads, layers, hidden, v, w, bias, lm);
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Runs every head on <paramref name="hidden"/> ([1, H], the final hidden state of the last committed
    /// position) and reads their logits to <see cref="HostLogits"/>.</summary>
    public ReadOnlySpan<float> Forward(DeviceTensor hidden)
    {
        for (int i = 0; i < HeadCount; i++)
        {
            _b.CopyRows(hidden, 0, _x, 0, 1);
            for (int j = 0; j < Layers; j++)
            {
                // x ← x + SiLU(W x + b)
                _b.MatMul(_x, _w[i][j], _t, 1);
                _b.AddBias(_t, _bias[i][j], 1);
                _b.SwiGlu(_t, _ones, 1);
                _b.Add(_x, _t, 1);
            }
            _b.MatMul(_x, _lm[i], _logits[i], 1);
        }
        for (int i = 0; i < HeadCount; i++) _b.Read(_logits[i], HostLogits.AsSpan(i * VocabSize, VocabSize));
        return HostLogits;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _x.Dispose();
        _t.Dispose();
        foreach (var l in _logits) l.Dispose();
        _tensors.Dispose();
    }
}
