using SpecCore.Kernels;
using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>
/// The hidden states a forward pass kept for a draft head, one row per token of the last batch, on the
/// model's backend (device memory on a GPU, host memory on the CPU backend; nothing is copied to the host
/// unless <see cref="ReadConcatenated"/> or <see cref="ReadFinalHidden"/> is called). Row r of every tensor
/// belongs to token r of the last <see cref="TransformerModel.Forward"/> or
/// <see cref="TransformerModel.ForwardSample"/> call, whatever rows got logits. Kept per layer rather than
/// concatenated so that each block is a plain [rows, hidden] activation for the backend ops; the
/// concatenation of token r is LayerInput(0)[r] ‖ LayerInput(1)[r] ‖ ….
/// </summary>
public sealed class TargetFeatures : IDisposable
{
    private readonly IBackend _backend;
    private readonly DeviceTensor[] _layerInputs; // per requested layer [maxBatch, dim]

    internal TargetFeatures(IBackend backend, TargetFeatureRequest request, int layers, int maxBatch, int hidden)
    {
        request.Validate(layers);
        _backend = backend;
        Request = request;
        Hidden = hidden;
        _layerInputs = new DeviceTensor[request.LayerInputs.Count];
        for (int i = 0; i < _layerInputs.Length; i++) _layerInputs[i] = backend.Allocate(DType.F32, maxBatch, hidden);
        if (request.FinalHidden) FinalHidden = backend.Allocate(DType.F32, maxBatch, hidden);
    }

    /// <summary>What is kept.</summary>
    public TargetFeatureRequest Request { get; }

    /// <summary>The target's hidden size (columns of every tensor).</summary>
    public int Hidden { get; }

    /// <summary>Tokens of the last forward pass (live rows of every tensor).</summary>
    public int Rows { get; internal set; }

    /// <summary>Number of kept layer inputs.</summary>
    public int LayerCount => _layerInputs.Length;

    /// <summary>The input of layer <c>Request.LayerInputs[index]</c> for the last batch: [maxBatch, dim], rows [0, Rows) live.</summary>
    public DeviceTensor LayerInput(int index) => _layerInputs[index];

    /// <summary>The final post-norm hidden state of the last batch ([maxBatch, dim]), or null when not requested.</summary>
    public DeviceTensor? FinalHidden { get; }

    /// <summary>Copies row <paramref name="row"/> of the last batch, the kept layer inputs concatenated
    /// ([LayerCount · dim]), into <paramref name="destination"/> (training data; waits for the device).</summary>
    public void ReadConcatenated(int row, Span<float> destination)
    {
        CheckRow(row);
        if (destination.Length != LayerCount * Hidden)
            throw new ArgumentException($"destination must hold {LayerCount * Hidden} values", nameof(destination));
        for (int i = 0; i < _layerInputs.Length; i++)
            _backend.Read(_layerInputs[i], destination.Slice(i * Hidden, Hidden), (long)row * Hidden);
    }

    /// <summary>Copies the final post-norm hidden state of row <paramref name="row"/> ([dim]) into <paramref name="destination"/>.</summary>
    public void ReadFinalHidden(int row, Span<float> destination)
    {
        CheckRow(row);
        if (FinalHidden == null) throw new InvalidOperationException("the final hidden state was not requested");
        if (destination.Length != Hidden) throw new ArgumentException($"destination must hold {Hidden} values", nameof(destination));
        _backend.Read(FinalHidden, destination, (long)row * Hidden);
    }

    /// <summary>Keeps the residual stream <paramref name="x"/> ([n, dim]) when it enters layer <paramref name="layer"/>.</summary>
    internal void CaptureLayerInput(int layer, DeviceTensor x, int n)
    {
        for (int i = 0; i < _layerInputs.Length; i++)
            if (Request.LayerInputs[i] == layer) _backend.CopyRows(x, 0, _layerInputs[i], 0, n);
    }

    private void CheckRow(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is not in the last batch of {Rows} tokens");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in _layerInputs) t.Dispose();
        FinalHidden?.Dispose();
    }
}
