using SpecCore.Tensors;

namespace SpecCore.Models;

/// <summary>Named weight tensors in host memory: a checkpoint on disk or weights made in memory.</summary>
public interface IWeightSource : IDisposable
{
    /// <summary>Where the weights come from, for messages.</summary>
    string Description { get; }

    /// <summary>The tensor <paramref name="name"/>, checked against <paramref name="shape"/>; a clear
    /// <see cref="InvalidDataException"/> if it is missing or shaped differently.</summary>
    HostTensor Get(string name, params int[] shape);

    /// <summary>True if a tensor of that name exists.</summary>
    bool Contains(string name);
}
