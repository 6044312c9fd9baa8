namespace SpecCore.Speculation.Trees;

/// <summary>
/// Candidate continuations proposed by a drafter, as a tree hanging off the pending token (the last
/// sampled token, not yet run through the target). Nodes are stored in topological order (a parent
/// before its children); a node's children keep the order they were added in, which is the order
/// verification tries them. A chain is a tree with one path.
/// </summary>
/// <remarks>
/// For lossless sampling each node records the draft distribution q its token was drawn from
/// (<see cref="DistributionOf"/>; -1 means the token was proposed deterministically, q = one-hot).
/// Siblings that share a distribution index were drawn from it in child order without replacement (distinct
/// tokens); the verifier removes the earlier siblings' tokens from q for each later one. Greedy verification
/// needs no distributions.
/// </remarks>
public sealed class DraftTree
{
    private readonly int[] _tokens;
    private readonly int[] _parents;
    private readonly int[] _depths;
    private readonly float[] _probabilities;
    private readonly float[] _pathProbabilities;
    private readonly int[] _distributionOf;
    private readonly float[] _distributions; // [maxDistributions, vocab]
    private readonly int[] _batchParents;    // [maxNodes + 1] parent array of the verification batch

    /// <summary>Creates an empty tree of at most <paramref name="maxNodes"/> nodes that can hold
    /// <paramref name="maxDistributions"/> draft distributions over <paramref name="vocabSize"/> tokens.</summary>
    public DraftTree(int maxNodes, int vocabSize, int maxDistributions = 0)
    {
        Capacity = maxNodes;
        VocabSize = vocabSize;
        _tokens = new int[maxNodes];
        _parents = new int[maxNodes];
        _depths = new int[maxNodes];
        _probabilities = new float[maxNodes];
        _pathProbabilities = new float[maxNodes];
        _distributionOf = new int[maxNodes];
        MaxDistributions = maxDistributions;
        _distributions = new float[(long)maxDistributions * vocabSize];
        _batchParents = new int[maxNodes + 1];
    }

    /// <summary>Most nodes the tree can hold.</summary>
    public int Capacity { get; }
    /// <summary>Vocabulary size of stored distributions.</summary>
    public int VocabSize { get; }
    /// <summary>Most distributions the tree can hold.</summary>
    public int MaxDistributions { get; }
    /// <summary>Nodes in the tree.</summary>
    public int Count { get; private set; }
    /// <summary>Distributions stored.</summary>
    public int DistributionCount { get; private set; }
    /// <summary>Deepest node's depth (0 for an empty tree).</summary>
    public int MaxDepth { get; private set; }

    /// <summary>Token of each node.</summary>
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Count);
    /// <summary>Parent node of each node, -1 for children of the pending token.</summary>
    public ReadOnlySpan<int> Parents => _parents.AsSpan(0, Count);
    /// <summary>Depth of each node: 1 for children of the pending token.</summary>
    public ReadOnlySpan<int> Depths => _depths.AsSpan(0, Count);
    /// <summary>Draft probability of each node's token given its parent.</summary>
    public ReadOnlySpan<float> Probabilities => _probabilities.AsSpan(0, Count);
    /// <summary>Product of draft probabilities along the path to each node.</summary>
    public ReadOnlySpan<float> PathProbabilities => _pathProbabilities.AsSpan(0, Count);
    /// <summary>Index of the distribution each node's token was drawn from, -1 if proposed deterministically.</summary>
    public ReadOnlySpan<int> DistributionOf => _distributionOf.AsSpan(0, Count);

    /// <summary>True when no more nodes fit.</summary>
    public bool IsFull => Count == Capacity;

    /// <summary>Removes every node and distribution.</summary>
    public void Clear()
    {
        Count = 0;
        DistributionCount = 0;
        MaxDepth = 0;
    }

    /// <summary>Stores a draft distribution ([vocab]) and returns its index.</summary>
    public int AddDistribution(ReadOnlySpan<float> distribution)
    {
        if (DistributionCount == MaxDistributions) throw new InvalidOperationException($"the tree holds at most {MaxDistributions} distributions");
        distribution.Slice(0, VocabSize).CopyTo(_distributions.AsSpan(DistributionCount * VocabSize, VocabSize));
        return DistributionCount++;
    }

    /// <summary>A stored distribution ([vocab]).</summary>
    public ReadOnlySpan<float> Distribution(int index) => _distributions.AsSpan(index * VocabSize, VocabSize);

    /// <summary>Adds a node under <paramref name="parent"/> (-1: under the pending token) and returns its index.</summary>
    public int Add(int token, int parent, float probability, int distribution = -1)
    {
        if (Count == Capacity) throw new InvalidOperationException($"the tree holds at most {Capacity} nodes");
        if (parent < -1 || parent >= Count) throw new ArgumentOutOfRangeException(nameof(parent), $"parent {parent} is not an existing node");
        if (distribution < -1 || distribution >= DistributionCount) throw new ArgumentOutOfRangeException(nameof(distribution));
        int i = Count++;
        _tokens[i] = token;
        _parents[i] = parent;
        _depths[i] = parent < 0 ? 1 : _depths[parent] + 1;
        _probabilities[i] = probability;
        _pathProbabilities[i] = parent < 0 ? probability : _pathProbabilities[parent] * probability;
        _distributionOf[i] = distribution;
        MaxDepth = Math.Max(MaxDepth, _depths[i]);
        return i;
    }

    /// <summary>Replaces the token of node <paramref name="node"/> (benchmarks that simulate a drafter of a given acceptance rate).</summary>
    public void SetToken(int node, int token)
    {
        if ((uint)node >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(node));
        _tokens[node] = token;
    }

    /// <summary>The child of <paramref name="parent"/> (-1: the pending token) carrying <paramref name="token"/>, or -1.</summary>
    public int FindChild(int parent, int token)
    {
        for (int i = parent + 1; i < Count; i++)
            if (_parents[i] == parent && _tokens[i] == token) return i;
        return -1;
    }

    /// <summary>The parent array of the verification batch [pending token, node 0, node 1, ...]:
    /// -1 for the pending token, node i at batch index i + 1.</summary>
    public ReadOnlySpan<int> BatchParents()
    {
        _batchParents[0] = -1;
        for (int i = 0; i < Count; i++) _batchParents[i + 1] = _parents[i] + 1;
        return _batchParents.AsSpan(0, Count + 1);
    }

    /// <summary>True if every node has at most one child (a chain).</summary>
    public bool IsChain
    {
        get
        {
            for (int i = 0; i < Count; i++)
                if (_parents[i] != i - 1) return false;
            return true;
        }
    }
}
