using System.Numerics;

namespace SpecCore.Training;

/// <summary>A head's forward (and backward) pass over batches of one geometry.</summary>
internal interface ITrainingPass<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Forward over <paramref name="batch"/>; with <paramref name="backward"/>, adds the loss gradient to the parameters.</summary>
    PassResult Run(HeadBatch<T> batch, bool backward);
}
