using System.Globalization;

namespace SpecCore.Speculation.Trees;

/// <summary>How a draft tree is shaped.</summary>
public enum TreeKind
{
    /// <summary>A fixed shape given by a per-depth branching list (<c>static:4x2x2x1</c>).</summary>
    Static,
    /// <summary>A fixed shape chosen by Sequoia's dynamic programme from an acceptance profile (<c>sequoia:16</c>).</summary>
    Sequoia,
    /// <summary>A shape grown each round from the draft's confidence, EAGLE-2 style (<c>dynamic:16</c>).</summary>
    Dynamic,
}

/// <summary>
/// A draft-tree setting as given on the command line: <c>static:&lt;b1&gt;x&lt;b2&gt;x...</c> (b1 children of the
/// pending token, b2 under each of those, ...), <c>sequoia:&lt;nodes&gt;[:&lt;depth&gt;]</c> (the shape of that many
/// nodes that maximises the expected accepted length under an <see cref="AcceptanceProfile"/>), or
/// <c>dynamic:&lt;nodes&gt;[:&lt;depth&gt;[:&lt;topk&gt;]]</c> (each round expand the most probable nodes and keep the
/// best <c>nodes</c>). Node counts exclude the pending token, so a target pass verifies nodes + 1 tokens.
/// </summary>
public sealed class TreeSpec
{
    /// <summary>Most nodes a tree may have: one verification pass takes at most 64 tokens, the pending one included.</summary>
    public const int MaxNodes = 63;

    /// <summary>Default number of nodes a dynamic tree expands per level, and children per expanded node.</summary>
    public const int DefaultTopK = 3;

    private TreeSpec(string text, TreeKind kind, int nodeBudget, int maxDepth, int topK, TreeShape? shape)
    {
        Text = text;
        Kind = kind;
        NodeBudget = nodeBudget;
        MaxDepth = maxDepth;
        TopK = topK;
        Shape = shape;
    }

    /// <summary>The setting as written (normalised).</summary>
    public string Text { get; }

    /// <summary>The kind of tree.</summary>
    public TreeKind Kind { get; }

    /// <summary>Most draft nodes per round.</summary>
    public int NodeBudget { get; }

    /// <summary>Deepest level of the tree (longest path).</summary>
    public int MaxDepth { get; }

    /// <summary>Dynamic trees: nodes expanded per level and children per expanded node.</summary>
    public int TopK { get; }

    /// <summary>The fixed shape of static trees, and of Sequoia trees once <see cref="WithProfile"/> has chosen it; null otherwise.</summary>
    public TreeShape? Shape { get; }

    /// <summary>True for a Sequoia setting that still needs an acceptance profile (see <see cref="WithProfile"/>).</summary>
    public bool NeedsProfile => Kind == TreeKind.Sequoia && Shape is null;

    /// <summary>A static tree of the given shape.</summary>
    public static TreeSpec Static(TreeShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count > MaxNodes) throw new ArgumentException($"a tree of {shape.Count} nodes does not fit one verification pass (at most {MaxNodes} nodes)");
        return new TreeSpec("static:" + shape.Describe(), TreeKind.Static, shape.Count, shape.MaxDepth, 0, shape);
    }

    /// <summary>A dynamic (EAGLE-2 style) tree of at most <paramref name="nodes"/> nodes, grown at most
    /// <paramref name="maxDepth"/> levels deep (default: the node budget, i.e. no limit).</summary>
    public static TreeSpec Dynamic(int nodes, int? maxDepth = null, int topK = DefaultTopK)
    {
        CheckRange(nodes, 1, MaxNodes, "dynamic tree nodes");
        int depth = maxDepth ?? nodes;
        CheckRange(depth, 1, MaxNodes, "dynamic tree depth");
        CheckRange(topK, 1, MaxNodes, "dynamic tree top-k");
        return new TreeSpec(string.Create(CultureInfo.InvariantCulture, $"dynamic:{nodes}:{depth}:{topK}"), TreeKind.Dynamic, nodes, depth, topK, null);
    }

    /// <summary>A Sequoia tree of at most <paramref name="nodes"/> nodes, shaped once a profile is given
    /// (depth limited to <paramref name="maxDepth"/>, default: no limit).</summary>
    public static TreeSpec Sequoia(int nodes, int? maxDepth = null)
    {
        CheckRange(nodes, 1, MaxNodes, "sequoia tree nodes");
        int depth = maxDepth ?? nodes;
        CheckRange(depth, 1, MaxNodes, "sequoia tree depth");
        string text = maxDepth is int d ? string.Create(CultureInfo.InvariantCulture, $"sequoia:{nodes}:{d}") : string.Create(CultureInfo.InvariantCulture, $"sequoia:{nodes}");
        return new TreeSpec(text, TreeKind.Sequoia, nodes, depth, 0, null);
    }

    /// <summary>Parses <c>static:4x2x2x1</c>, <c>sequoia:16[:depth]</c> or <c>dynamic:16[:depth[:topk]]</c>.
    /// Throws <see cref="ArgumentException"/> with a message that names the problem.</summary>
    public static TreeSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string usage = "expected static:<b1>x<b2>x... (e.g. static:4x2x2x1), sequoia:<nodes>[:<depth>] or dynamic:<nodes>[:<depth>[:<topk>]]";
        string t = text.Trim();
        int colon = t.IndexOf(':');
        if (colon < 0) throw new ArgumentException($"--tree '{text}': {usage}");
        string kind = t.Substring(0, colon).ToLowerInvariant();
        string[] args = t.Substring(colon + 1).Split(':');
        switch (kind)
        {
            case "static":
            {
                if (args.Length != 1) throw new ArgumentException($"--tree '{text}': a static shape is one branching list such as 4x2x2x1");
                string[] parts = args[0].Split('x', 'X', '*');
                var branching = new int[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    branching[i] = Number(parts[i], 1, MaxNodes, $"--tree '{text}': branching factor at depth {i + 1}");
                long nodes = 0, level = 1;
                foreach (int b in branching)
                {
                    level *= b;
                    nodes += level;
                    if (nodes > MaxNodes)
                        throw new ArgumentException($"--tree '{text}': the shape has more than {MaxNodes} nodes; one verification pass holds at most {MaxNodes} draft tokens");
                }
                return Static(TreeShape.FromBranching(branching));
            }
            case "sequoia":
                if (args.Length > 2) throw new ArgumentException($"--tree '{text}': {usage}");
                return Sequoia(Number(args[0], 1, MaxNodes, $"--tree '{text}': node budget"),
                    args.Length > 1 ? Number(args[1], 1, MaxNodes, $"--tree '{text}': depth") : null);
            case "dynamic":
                if (args.Length > 3) throw new ArgumentException($"--tree '{text}': {usage}");
                return Dynamic(Number(args[0], 1, MaxNodes, $"--tree '{text}': node budget"),
                    args.Length > 1 ? Number(args[1], 1, MaxNodes, $"--tree '{text}': depth") : null,
                    args.Length > 2 ? Number(args[2], 1, MaxNodes, $"--tree '{text}': top-k") : DefaultTopK);
            default:
                throw new ArgumentException($"--tree '{text}': unknown tree kind '{kind}'; {usage}");
        }
    }

    /// <summary>For a Sequoia setting, the same setting with its shape chosen from <paramref name="profile"/>;
    /// other settings are returned unchanged.</summary>
    public TreeSpec WithProfile(AcceptanceProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (Kind != TreeKind.Sequoia) return this;
        TreeShape shape = TreeShape.Sequoia(profile, NodeBudget, MaxDepth);
        return new TreeSpec(Text, Kind, NodeBudget, Math.Min(MaxDepth, Math.Max(1, shape.MaxDepth)), 0, shape);
    }

    /// <inheritdoc />
    public override string ToString() => Shape != null && Kind == TreeKind.Sequoia ? $"{Text} ({Shape.Describe()})" : Text;

    private static int Number(string s, int min, int max, string what)
    {
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v))
            throw new ArgumentException($"{what} must be a whole number, got '{s}'");
        CheckRange(v, min, max, what);
        return v;
    }

    private static void CheckRange(int v, int min, int max, string what)
    {
        if (v < min || v > max) throw new ArgumentException($"{what} must be between {min} and {max}, got {v}");
    }
}
