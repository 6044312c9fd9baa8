using System.Text;
using SpecCore.Models;
using SpecCore.Models.Families;
using SpecCore.Tensors;

namespace SpecCore.Bench.Gguf;

/// <summary>Writes SpecCore weights (a synthetic preset or a Llama-family model folder) as a llama-architecture GGUF
/// (version 3) file that llama.cpp loads, so that both engines run the very same weights side by side. Matrices (the
/// embedding and LM head included, as SpecCore's <c>--dtype</c> converts them) are written as F32, F16, BF16, Q8_0 or
/// Q4_0 with SpecCore's own converters; norms stay F32. The vocabulary is left out (<c>tokenizer.ggml.model =
/// no_vocab</c> with <c>llama.vocab_size</c>): llama-bench feeds random token ids and needs none.</summary>
/// <remarks>Hugging Face stores q/k rows of each head in rotate-half order; GGUF's llama expects the original
/// interleaved order, so those rows are permuted back (as llama.cpp's converter does) and llama.cpp computes the same
/// function. Only plain Llama graphs are written (no biases, q/k norms or sliding windows).</remarks>
internal static unsafe class GgufWriter
{
    private const uint Alignment = 32;

    // ggml_type values.
    private static uint GgmlType(DType d) => d switch
    {
        DType.F32 => 0,
        DType.F16 => 1,
        DType.Q4_0 => 2,
        DType.Q8_0 => 8,
        DType.BF16 => 30,
        _ => throw new ArgumentException($"no GGUF type for {d}"),
    };

    // llama_ftype values (general.file_type).
    private static uint FileType(DType d) => d switch
    {
        DType.F32 => 0,
        DType.F16 => 1,
        DType.Q4_0 => 2,
        DType.Q8_0 => 7,
        DType.BF16 => 32,
        _ => throw new ArgumentException($"no GGUF file type for {d}"),
    };

    private sealed record Tensor(string Name, HostTensor Source, DType Type, bool PermuteHeads, int Heads);

    /// <summary>Writes <paramref name="weights"/> of <paramref name="config"/> to <paramref name="path"/> with matrices in
    /// <paramref name="matrixType"/>.</summary>
    public static void Write(string path, string name, ModelConfig config, IWeightSource weights, DType matrixType)
    {
        if (config.QkvBias || config.OutputBias || config.MlpBias || config.QkNorm || config.SlidingWindow != null)
            throw new NotSupportedException("the GGUF writer handles plain Llama graphs only (no biases, q/k norms or sliding windows)");
        var tensors = new List<Tensor>();
        DType Matrix(HostTensor t) => matrixType is DType.Q8_0 or DType.Q4_0 && t.Cols % DTypeInfo.Q8BlockSize != 0 ? DType.F32 : matrixType;
        void Add(string ggufName, WeightSpec spec, bool permute = false, int heads = 0)
        {
            HostTensor t = spec.Kind == WeightKind.Matrix ? weights.Get(spec.Name, spec.Rows, spec.Cols) : weights.Get(spec.Name, spec.Rows);
            tensors.Add(new Tensor(ggufName, t, spec.Kind == WeightKind.Matrix ? Matrix(t) : DType.F32, permute, heads));
        }
        Add("token_embd.weight", WeightMap.Embedding(config));
        for (int l = 0; l < config.Layers; l++)
        {
            LayerWeightSpecs w = WeightMap.Layer(config, l);
            Add($"blk.{l}.attn_norm.weight", w.AttentionNorm);
            Add($"blk.{l}.attn_q.weight", w.Wq, permute: true, heads: config.Heads);
            Add($"blk.{l}.attn_k.weight", w.Wk, permute: true, heads: config.KvHeads);
            Add($"blk.{l}.attn_v.weight", w.Wv);
            Add($"blk.{l}.attn_output.weight", w.Wo);
            Add($"blk.{l}.ffn_norm.weight", w.MlpNorm);
            Add($"blk.{l}.ffn_gate.weight", w.WGate);
            Add($"blk.{l}.ffn_up.weight", w.WUp);
            Add($"blk.{l}.ffn_down.weight", w.WDown);
        }
        Add("output_norm.weight", WeightMap.FinalNorm(config));
        // A missing output.weight makes llama.cpp tie the head to the embedding, as SpecCore does.
        if (!config.TieWordEmbeddings && weights.Contains(WeightMap.LmHead(config).Name)) Add("output.weight", WeightMap.LmHead(config));

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var o = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        o.Write(0x46554747u); // "GGUF"
        o.Write(3u);
        o.Write((ulong)tensors.Count);
        var kv = new List<Action>
        {
            () => Str(o, "general.architecture", "llama"),
            () => Str(o, "general.name", name),
            () => U32(o, "general.file_type", FileType(matrixType)),
            () => U32(o, "general.alignment", Alignment),
            () => U32(o, "llama.context_length", (uint)config.MaxPositions),
            () => U32(o, "llama.embedding_length", (uint)config.HiddenSize),
            () => U32(o, "llama.block_count", (uint)config.Layers),
            () => U32(o, "llama.feed_forward_length", (uint)config.IntermediateSize),
            () => U32(o, "llama.rope.dimension_count", (uint)config.HeadDim),
            () => U32(o, "llama.attention.head_count", (uint)config.Heads),
            () => U32(o, "llama.attention.head_count_kv", (uint)config.KvHeads),
            () => U32(o, "llama.attention.key_length", (uint)config.HeadDim),
            () => U32(o, "llama.attention.value_length", (uint)config.HeadDim),
            () => F32(o, "llama.attention.layer_norm_rms_epsilon", config.RmsNormEps),
            () => F32(o, "llama.rope.freq_base", (float)config.RopeTheta),
            () => U32(o, "llama.vocab_size", (uint)config.VocabSize),
            () => Str(o, "tokenizer.ggml.model", "no_vocab"),
        };
        o.Write((ulong)kv.Count);
        foreach (var write in kv) write();

        ulong offset = 0;
        foreach (var t in tensors)
        {
            String(o, t.Name);
            int[] shape = t.Source.Shape;
            o.Write((uint)shape.Length);
            for (int d = shape.Length - 1; d >= 0; d--) o.Write((ulong)shape[d]); // ne0 is the innermost (columns)
            o.Write(GgmlType(t.Type));
            o.Write(offset);
            offset = Align(offset + (ulong)t.Type.ByteSize(t.Source.ElementCount));
        }
        o.Flush();
        Pad(stream);
        long dataStart = stream.Position;
        foreach (var t in tensors)
        {
            WriteData(stream, t);
            Pad(stream, dataStart);
        }
    }

    private static void WriteData(Stream stream, Tensor t)
    {
        int cols = t.Source.Cols, rows = t.Source.Rows;
        int rowBytes = checked((int)t.Type.ByteSize(cols));
        var row = new float[cols];
        var bytes = new byte[rowBytes];
        int headDim = t.PermuteHeads ? rows / t.Heads : 0;
        for (int r = 0; r < rows; r++)
        {
            // GGUF row (h, 2j + s) is Hugging Face row (h, s · headDim/2 + j).
            int source = r;
            if (t.PermuteHeads)
            {
                int h = r / headDim, i = r % headDim;
                source = h * headDim + (i % 2) * (headDim / 2) + i / 2;
            }
            WeightConversion.ReadRowAsF32(t.Source, source, row);
            fixed (byte* b = bytes)
            {
                switch (t.Type)
                {
                    case DType.F32: row.AsSpan().CopyTo(new Span<float>(b, cols)); break;
                    case DType.F16: for (int i = 0; i < cols; i++) ((ushort*)b)[i] = FloatConversion.FloatToF16(row[i]); break;
                    case DType.BF16: for (int i = 0; i < cols; i++) ((ushort*)b)[i] = FloatConversion.FloatToBF16(row[i]); break;
                    case DType.Q8_0: Q8Format.QuantizeRow(row, b); break;
                    case DType.Q4_0: Q4Format.QuantizeRow(row, b); break;
                }
            }
            stream.Write(bytes);
        }
    }

    private static ulong Align(ulong x) => (x + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream s, long origin = 0)
    {
        long rel = s.Position - origin;
        long pad = (long)Align((ulong)rel) - rel;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    private static void String(BinaryWriter o, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        o.Write((ulong)b.Length);
        o.Write(b);
    }

    private static void Str(BinaryWriter o, string key, string value)
    {
        String(o, key);
        o.Write(8u); // GGUF_TYPE_STRING
        String(o, value);
    }

    private static void U32(BinaryWriter o, string key, uint value)
    {
        String(o, key);
        o.Write(4u); // GGUF_TYPE_UINT32
        o.Write(value);
    }

    private static void F32(BinaryWriter o, string key, float value)
    {
        String(o, key);
        o.Write(6u); // GGUF_TYPE_FLOAT32
        o.Write(value);
    }
}
