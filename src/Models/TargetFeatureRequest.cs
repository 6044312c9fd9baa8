namespace SpecCore.Models;

/// <summary>Which hidden states a forward pass keeps for a draft head (EAGLE, Medusa): the residual stream
/// entering each of <see cref="LayerInputs"/> (HF <c>hidden_states[l]</c>: after l layers; l = the layer
/// count means the stream after the last layer, before the final norm) and, when
/// <see cref="FinalHidden"/>, the final post-norm hidden state that the LM head reads.</summary>
/// <param name="LayerInputs">Layer indices in [0, layers] whose input is kept, in the order the head
/// concatenates them (EAGLE-3: three of them, 3·hidden per token).</param>
/// <param name="FinalHidden">Whether the final post-norm hidden state is kept (Medusa, EAGLE-1).</param>
public sealed record TargetFeatureRequest(IReadOnlyList<int> LayerInputs, bool FinalHidden = false)
{
    /// <summary>Throws when a layer index lies outside [0, <paramref name="layers"/>].</summary>
    public void Validate(int layers)
    {
        foreach (int l in LayerInputs)
            if (l < 0 || l > layers)
                throw new ArgumentOutOfRangeException(nameof(LayerInputs), $"feature layer {l} is outside the target's 0..{layers}");
    }
}
