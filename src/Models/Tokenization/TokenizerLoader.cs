using System.Text.Json;

namespace SpecCore.Models.Tokenization;

/// <summary>Loads the tokenizer of a model folder in Hugging Face layout.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Loads <c>tokenizer.json</c> (byte-level BPE) if present, else <c>tokenizer.model</c> (SentencePiece),
    /// with BOS/EOS and <c>add_bos_token</c> from <c>tokenizer_config.json</c> when that file exists.
    /// A SentencePiece-style <c>tokenizer.json</c> (no ByteLevel pre-tokenizer) is skipped in favour of
    /// <c>tokenizer.model</c> when both exist.
    /// </summary>
    /// <param name="modelDirectory">The model folder.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">Neither tokenizer file exists.</exception>
    /// <exception cref="InvalidDataException">A tokenizer file is malformed or of an unsupported kind.</exception>
    public static ITextTokenizer Load(string modelDirectory)
    {
        if (!Directory.Exists(modelDirectory))
            throw new DirectoryNotFoundException($"model folder not found: {modelDirectory}");
        string jsonPath = Path.Combine(modelDirectory, "tokenizer.json");
        string modelPath = Path.Combine(modelDirectory, "tokenizer.model");
        TokenizerConfig? config = TokenizerConfig.TryLoad(Path.Combine(modelDirectory, "tokenizer_config.json"));

        if (ModelFile.Exists(jsonPath))
        {
            using JsonDocument doc = ByteLevelBpeTokenizer.ParseDocument(ModelFile.ReadUtf8(jsonPath), jsonPath);
            if (!ModelFile.Exists(modelPath) || ContainsByteLevel(doc.RootElement, "pre_tokenizer"))
                return ByteLevelBpeTokenizer.FromDocument(doc.RootElement, jsonPath, config);
        }
        if (ModelFile.Exists(modelPath)) return SentencePieceTokenizer.Load(modelPath, config);
        throw new FileNotFoundException($"no tokenizer in {modelDirectory}: expected tokenizer.json or tokenizer.model", jsonPath);
    }

    /// <summary>
    /// Checks that <paramref name="tokenizer"/> fits a model whose embedding has <paramref name="modelVocab"/> rows.
    /// The rule: every tokenizer id must index the embedding (more ids than rows is refused), and the model may
    /// have padding rows the tokenizer lacks (Qwen3 has 267, Qwen2.5 399) but at most 128 + 1/16 of its
    /// vocabulary; a tokenizer covering fewer ids belongs to another model and is refused. Ids the tokenizer
    /// lacks decode to nothing.
    /// </summary>
    /// <exception cref="InvalidDataException">The tokenizer does not belong to the model.</exception>
    public static void CheckMatchesModel(ITextTokenizer tokenizer, int modelVocab, string modelDirectory)
    {
        int ids = tokenizer.VocabSize;
        if (ids > modelVocab)
            throw new InvalidDataException($"{modelDirectory}: the tokenizer has {ids} token ids but the model's vocab_size is {modelVocab}: its ids past {modelVocab - 1} have no embedding row; the tokenizer belongs to another model");
        if (modelVocab - ids > 128 + modelVocab / 16)
            throw new InvalidDataException($"{modelDirectory}: the tokenizer covers {ids} token ids but the model's vocab_size is {modelVocab}: the model would emit ids it cannot decode; the tokenizer belongs to another model");
    }

    /// <summary>Whether a tokenizer.json pre-tokenizer is or contains (in a Sequence) a ByteLevel step.</summary>
    private static bool ContainsByteLevel(JsonElement root, string property) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(property, out JsonElement pre) && ContainsByteLevel(pre);

    private static bool ContainsByteLevel(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object) return false;
        if (element.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String && type.GetString() == "ByteLevel")
            return true;
        return element.TryGetProperty("pretokenizers", out JsonElement list) && list.ValueKind == JsonValueKind.Array
            && list.EnumerateArray().Any(ContainsByteLevel);
    }
}
