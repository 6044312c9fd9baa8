namespace SpecCore.Models.Chat;

// The syntax tree of a parsed template. Every node carries its 1-based source line for messages.

/// <summary>A statement: text, an output expression or a tag.</summary>
internal abstract record JinjaNode(int Line);

internal sealed record TextNode(int Line, string Text) : JinjaNode(Line);

internal sealed record OutputNode(int Line, JinjaExpr Value) : JinjaNode(Line);

internal sealed record IfNode(int Line, List<(JinjaExpr Condition, List<JinjaNode> Body)> Branches, List<JinjaNode>? Else) : JinjaNode(Line);

internal sealed record ForNode(int Line, List<string> Targets, JinjaExpr Iterable, JinjaExpr? Filter, List<JinjaNode> Body, List<JinjaNode>? Else)
    : JinjaNode(Line);

/// <summary><c>{% set target = value %}</c>; the target is a name, a tuple of names or <c>ns.attr</c>.</summary>
internal sealed record SetNode(int Line, JinjaExpr Target, JinjaExpr Value) : JinjaNode(Line);

/// <summary><c>{% set name %}body{% endset %}</c>.</summary>
internal sealed record SetBlockNode(int Line, string Name, List<JinjaNode> Body) : JinjaNode(Line);

internal sealed record MacroNode(int Line, string Name, List<(string Name, JinjaExpr? Default)> Parameters, List<JinjaNode> Body) : JinjaNode(Line);

internal sealed record BreakNode(int Line) : JinjaNode(Line);

internal sealed record ContinueNode(int Line) : JinjaNode(Line);

/// <summary>A block whose body renders as is (<c>{% generation %}</c>, HF's assistant-mask marker).</summary>
internal sealed record BodyNode(int Line, List<JinjaNode> Body) : JinjaNode(Line);

/// <summary>An expression.</summary>
internal abstract record JinjaExpr(int Line);

internal sealed record LiteralExpr(int Line, TemplateValue Value) : JinjaExpr(Line);

internal sealed record NameExpr(int Line, string Name) : JinjaExpr(Line);

internal sealed record ListExpr(int Line, List<JinjaExpr> Items, bool IsTuple) : JinjaExpr(Line);

internal sealed record DictExpr(int Line, List<(JinjaExpr Key, JinjaExpr Value)> Items) : JinjaExpr(Line);

internal sealed record AttributeExpr(int Line, JinjaExpr Target, string Name) : JinjaExpr(Line);

internal sealed record IndexExpr(int Line, JinjaExpr Target, JinjaExpr Index) : JinjaExpr(Line);

internal sealed record SliceExpr(int Line, JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step) : JinjaExpr(Line);

internal sealed record CallExpr(int Line, JinjaExpr Function, List<JinjaExpr> Args, List<(string Name, JinjaExpr Value)> Kwargs) : JinjaExpr(Line);

internal sealed record FilterExpr(int Line, JinjaExpr Target, string Name, List<JinjaExpr> Args, List<(string Name, JinjaExpr Value)> Kwargs)
    : JinjaExpr(Line);

internal sealed record TestExpr(int Line, JinjaExpr Target, string Name, List<JinjaExpr> Args, bool Negated) : JinjaExpr(Line);

/// <summary>Binary operators: <c>or and == != &lt; &lt;= &gt; &gt;= in notin + - * / // % ** ~</c>.</summary>
internal sealed record BinaryExpr(int Line, string Op, JinjaExpr Left, JinjaExpr Right) : JinjaExpr(Line);

/// <summary>Unary operators: <c>not</c>, <c>-</c>, <c>+</c>.</summary>
internal sealed record UnaryExpr(int Line, string Op, JinjaExpr Operand) : JinjaExpr(Line);

/// <summary><c>then if condition else otherwise</c>; a missing else is undefined.</summary>
internal sealed record ConditionalExpr(int Line, JinjaExpr Condition, JinjaExpr Then, JinjaExpr? Else) : JinjaExpr(Line);
