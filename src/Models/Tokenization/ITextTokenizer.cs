namespace SpecCore.Models.Tokenization;

/// <summary>
/// Turns text into token ids and back, matching the reference tokenizer of a model
/// (SentencePiece <c>tokenizer.model</c> or Hugging Face <c>tokenizer.json</c>).
/// Implementations are immutable after loading and safe to use from several threads.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Size of the id space: one more than the largest id, added tokens included.</summary>
    int VocabSize { get; }

    /// <summary>The beginning-of-sequence token id, or null when the tokenizer has none.</summary>
    int? BosId { get; }

    /// <summary>The end-of-sequence token id(s) named by the tokenizer files; may be empty.</summary>
    IReadOnlyList<int> EosIds { get; }

    /// <summary>Whether the model expects BOS in front of a prompt (what <see cref="Encode"/> adds by default).</summary>
    bool AddBosByDefault { get; }

    /// <summary>
    /// Encodes <paramref name="text"/>. With <paramref name="addSpecialTokens"/> the special tokens the
    /// model expects (BOS when <see cref="AddBosByDefault"/>) are added, as the Hugging Face default encode does.
    /// For <c>tokenizer.json</c> tokenizers, added-token strings inside the text are matched as those tokens.
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens = true);

    /// <summary>
    /// Decodes ids to text. Special tokens appear as their text unless <paramref name="skipSpecialTokens"/>;
    /// ids outside the vocabulary are ignored; invalid UTF-8 becomes U+FFFD.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);

    /// <summary>The raw vocabulary entry of <paramref name="id"/> (e.g. <c>▁Hello</c>, <c>Ġworld</c>, <c>&lt;0x0A&gt;</c>), or null if out of range.</summary>
    string? TokenToString(int id);

    /// <summary>
    /// Creates a decoder for text generated one token at a time. The concatenation of all its outputs
    /// equals <see cref="Decode"/> of all ids appended with the same <paramref name="skipSpecialTokens"/>.
    /// </summary>
    StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false);
}
