namespace SpecCore.Engine;

/// <summary>One request to a session: how many tokens, how to sample them and when to stop.</summary>
public sealed record CompletionRequest
{
    /// <summary>Most tokens to generate; the context may end the output sooner (<see cref="FinishReason.Length"/>).</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>Sampling temperature; 0 is greedy.</summary>
    public float Temperature { get; init; }

    /// <summary>Nucleus sampling mass (1: off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Keep only the K most likely tokens (0: off).</summary>
    public int TopK { get; init; }

    /// <summary>Random seed; the same seed reproduces the same text.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Texts that end the output when they appear (the output is cut before them).</summary>
    public IReadOnlyList<string> Stop { get; init; } = Array.Empty<string>();

    /// <summary>Generate past end-of-sequence tokens.</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Write special and control tokens into the text (off: they are left out).</summary>
    public bool ShowSpecialTokens { get; init; }

    /// <summary>A chat reply: the chat format's end-of-turn tokens (<see cref="InferenceEngine.ChatStopTokens"/>) end it
    /// too, and, for a model without a chat template, the start of the user's next line.</summary>
    public bool IsChatReply { get; init; }
}

/// <summary>Why an output ended, in the terms of the OpenAI API.</summary>
public enum FinishReason
{
    /// <summary>An end-of-sequence token or a stop string.</summary>
    Stop,
    /// <summary>The token limit or the context.</summary>
    Length,
    /// <summary>The caller cancelled it (or the client went away).</summary>
    Cancelled,
}

/// <summary>Token counts of one request.</summary>
/// <param name="PromptTokens">Tokens of the prompt.</param>
/// <param name="CompletionTokens">Tokens generated.</param>
/// <param name="CachedPromptTokens">Prompt tokens served from the session's cache (not run through the model again).</param>
public readonly record struct Usage(int PromptTokens, int CompletionTokens, int CachedPromptTokens)
{
    /// <summary>Prompt plus completion tokens.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>The outcome of one request.</summary>
public sealed class CompletionResult
{
    /// <summary>The generated text (stop string and stop token excluded).</summary>
    public required string Text { get; init; }

    /// <summary>The generated token ids.</summary>
    public required int[] Tokens { get; init; }

    /// <summary>Why the output ended.</summary>
    public required FinishReason FinishReason { get; init; }

    /// <summary>Token counts.</summary>
    public required Usage Usage { get; init; }

    /// <summary>Timings and speculation figures.</summary>
    public required Speculation.Generation.GenerationStats Stats { get; init; }
}

/// <summary>A piece of a streamed output: new text, and with the last piece the whole result.</summary>
/// <param name="Text">Text generated since the previous piece (may be empty on the last piece).</param>
/// <param name="Result">The result, on the last piece only.</param>
public sealed record CompletionChunk(string Text, CompletionResult? Result);
