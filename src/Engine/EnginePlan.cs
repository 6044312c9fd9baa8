using SpecCore.Models;
using SpecCore.Models.Tokenization;

namespace SpecCore.Engine;

/// <summary>What an engine will hold, known once its files are checked and before its weights are read.</summary>
/// <param name="Config">The target's configuration.</param>
/// <param name="Tokenizer">The target's tokenizer.</param>
/// <param name="Capacity">Tokens each session holds (prompt plus output).</param>
public sealed record EnginePlan(ModelConfig Config, ITextTokenizer Tokenizer, int Capacity)
{
    /// <summary>Tokenizes a completion prompt as the model expects (BOS added when the model wants it; an empty prompt is BOS alone).</summary>
    public int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int[] ids = Tokenizer.Encode(prompt, addSpecialTokens: true);
        if (ids.Length == 0 && Config.BosId is int bos) ids = [bos];
        return ids;
    }
}
