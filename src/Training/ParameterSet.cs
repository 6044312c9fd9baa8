using System.Numerics;

namespace SpecCore.Training;

/// <summary>One trainable tensor: its checkpoint name, shape, values and gradient (same length).</summary>
internal sealed class Parameter<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Parameter(string name, int[] shape, bool decays)
    {
        Name = name;
        Shape = shape;
        int length = 1;
        foreach (int d in shape) length *= d;
        Value = new T[length];
        Gradient = new T[length];
        Decays = decays;
    }

    /// <summary>Tensor name in the public checkpoint layout.</summary>
    public string Name { get; }

    /// <summary>Shape, outermost first.</summary>
    public int[] Shape { get; }

    /// <summary>Values, row-major.</summary>
    public T[] Value { get; }

    /// <summary>Gradient of the loss, accumulated by the backward pass.</summary>
    public T[] Gradient { get; }

    /// <summary>Whether AdamW's weight decay applies (matrices yes, norm scales and biases no).</summary>
    public bool Decays { get; }
}

/// <summary>The trainable tensors of a head, in a fixed order (the order of checkpoints and optimizer state).</summary>
internal sealed class ParameterSet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<Parameter<T>> _all = new();
    private readonly Dictionary<string, Parameter<T>> _byName = new(StringComparer.Ordinal);

    /// <summary>The parameters in order.</summary>
    public IReadOnlyList<Parameter<T>> All => _all;

    /// <summary>Adds a parameter of <paramref name="shape"/>; matrices decay, vectors do not.</summary>
    public Parameter<T> Add(string name, params int[] shape)
    {
        var p = new Parameter<T>(name, shape, decays: shape.Length > 1);
        _all.Add(p);
        _byName.Add(name, p);
        return p;
    }

    /// <summary>The parameter called <paramref name="name"/>.</summary>
    public Parameter<T> this[string name] => _byName[name];

    /// <summary>Total number of values.</summary>
    public long Count
    {
        get
        {
            long n = 0;
            foreach (var p in _all) n += p.Value.Length;
            return n;
        }
    }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients()
    {
        foreach (var p in _all) Array.Clear(p.Gradient);
    }
}
