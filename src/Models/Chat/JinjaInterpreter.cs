using System.Text;

namespace SpecCore.Models.Chat;

/// <summary>
/// Evaluates a parsed template. Scoping follows Jinja: each loop iteration and each macro call has
/// its own scope (a <c>set</c> inside a loop does not leak out; a <c>namespace()</c> is how templates
/// carry state across iterations); <c>if</c> blocks share the enclosing scope.
/// </summary>
internal sealed class JinjaInterpreter
{
    private enum Flow { Normal, Break, Continue }

    private sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, TemplateValue> _vars = [];

        public TemplateValue Lookup(string name)
        {
            for (Scope? s = this; s != null; s = s.Parent)
                if (s._vars.TryGetValue(name, out TemplateValue? v)) return v;
            return TemplateValue.Undefined(name);
        }

        public Scope? Parent { get; } = parent;

        public void Set(string name, TemplateValue value) => _vars[name] = value;
    }

    private readonly Scope _globals = new(null);

    /// <summary>Renders <paramref name="template"/> with <paramref name="variables"/> as its global names.</summary>
    public static string Render(List<JinjaNode> template, IReadOnlyDictionary<string, TemplateValue> variables)
    {
        var interpreter = new JinjaInterpreter();
        foreach (var (name, value) in variables) interpreter._globals.Set(name, value);
        var sb = new StringBuilder();
        var scope = new Scope(interpreter._globals);
        if (interpreter.Execute(template, scope, sb) != Flow.Normal) throw ChatTemplateErrors.At(0, "'break' or 'continue' outside a loop");
        return sb.ToString();
    }

    private Flow Execute(List<JinjaNode> nodes, Scope scope, StringBuilder output)
    {
        foreach (JinjaNode node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    break;
                case OutputNode o:
                    output.Append(Evaluate(o.Value, scope).ToString());
                    break;
                case IfNode i:
                {
                    List<JinjaNode>? body = i.Else;
                    foreach (var (condition, branch) in i.Branches)
                    {
                        if (Evaluate(condition, scope).IsTruthy)
                        {
                            body = branch;
                            break;
                        }
                    }
                    if (body != null)
                    {
                        Flow flow = Execute(body, scope, output);
                        if (flow != Flow.Normal) return flow;
                    }
                    break;
                }
                case ForNode f:
                    ExecuteFor(f, scope, output);
                    break;
                case SetNode s:
                    Assign(s.Target, Evaluate(s.Value, scope), scope, s.Line);
                    break;
                case SetBlockNode sb:
                {
                    var inner = new StringBuilder();
                    Execute(sb.Body, scope, inner);
                    scope.Set(sb.Name, TemplateValue.FromString(inner.ToString()));
                    break;
                }
                case MacroNode m:
                    scope.Set(m.Name, MakeMacro(m, scope));
                    break;
                case BreakNode:
                    return Flow.Break;
                case ContinueNode:
                    return Flow.Continue;
                case BodyNode b:
                {
                    Flow flow = Execute(b.Body, scope, output);
                    if (flow != Flow.Normal) return flow;
                    break;
                }
                default:
                    throw ChatTemplateErrors.At(node.Line, $"unsupported statement {node.GetType().Name}");
            }
        }
        return Flow.Normal;
    }

    private void ExecuteFor(ForNode f, Scope scope, StringBuilder output)
    {
        TemplateValue iterable = Evaluate(f.Iterable, scope);
        List<TemplateValue> items;
        try
        {
            items = JinjaBuiltins.Iterate(iterable).ToList();
        }
        catch (TemplateError e)
        {
            throw ChatTemplateErrors.At(f.Line, e.Message);
        }
        if (f.Filter != null)
        {
            items = items.Where(item =>
            {
                var filterScope = new Scope(scope);
                Bind(f, filterScope, item);
                return Evaluate(f.Filter, filterScope).IsTruthy;
            }).ToList();
        }
        if (items.Count == 0)
        {
            if (f.Else != null) Execute(f.Else, scope, output);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            var iteration = new Scope(scope);
            Bind(f, iteration, items[i]);
            iteration.Set("loop", MakeLoop(items, i));
            if (Execute(f.Body, iteration, output) == Flow.Break) break;
        }
    }

    private static void Bind(ForNode f, Scope scope, TemplateValue item)
    {
        if (f.Targets.Count == 1)
        {
            scope.Set(f.Targets[0], item);
            return;
        }
        if (item.Kind != TemplateKind.List || item.AsList.Count != f.Targets.Count)
            throw ChatTemplateErrors.At(f.Line, $"cannot unpack {item.TypeName} into {f.Targets.Count} names");
        for (int i = 0; i < f.Targets.Count; i++) scope.Set(f.Targets[i], item.AsList[i]);
    }

    private static TemplateValue MakeLoop(List<TemplateValue> items, int i)
    {
        int n = items.Count;
        var loop = new OrderedDictionary<string, TemplateValue>
        {
            ["index0"] = TemplateValue.FromInt(i),
            ["index"] = TemplateValue.FromInt(i + 1),
            ["revindex0"] = TemplateValue.FromInt(n - i - 1),
            ["revindex"] = TemplateValue.FromInt(n - i),
            ["first"] = TemplateValue.FromBool(i == 0),
            ["last"] = TemplateValue.FromBool(i == n - 1),
            ["length"] = TemplateValue.FromInt(n),
            ["depth"] = TemplateValue.FromInt(1),
            ["depth0"] = TemplateValue.FromInt(0),
            ["previtem"] = i > 0 ? items[i - 1] : TemplateValue.Undefined("loop.previtem"),
            ["nextitem"] = i < n - 1 ? items[i + 1] : TemplateValue.Undefined("loop.nextitem"),
            ["cycle"] = TemplateValue.FromFunction((args, _) =>
                args.Count == 0 ? throw new TemplateError("loop.cycle needs at least one value") : args[i % args.Count]),
        };
        return TemplateValue.FromDict(loop);
    }

    private void Assign(JinjaExpr target, TemplateValue value, Scope scope, int line)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Set(n.Name, value);
                break;
            case AttributeExpr { Target: NameExpr owner } a:
            {
                TemplateValue ns = scope.Lookup(owner.Name);
                if (ns.Kind != TemplateKind.Dict || !ns.IsNamespace)
                    throw ChatTemplateErrors.At(line, $"cannot assign attribute '{a.Name}' on '{owner.Name}': only a namespace() accepts attribute assignment");
                ns.AsDict[a.Name] = value;
                break;
            }
            case ListExpr { IsTuple: true } t:
                if (value.Kind != TemplateKind.List || value.AsList.Count != t.Items.Count)
                    throw ChatTemplateErrors.At(line, $"cannot unpack {value.TypeName} into {t.Items.Count} names");
                for (int i = 0; i < t.Items.Count; i++) Assign(t.Items[i], value.AsList[i], scope, line);
                break;
            default:
                throw ChatTemplateErrors.At(line, "unsupported assignment target");
        }
    }

    private TemplateValue MakeMacro(MacroNode m, Scope definitionScope) => TemplateValue.FromFunction((args, kwargs) =>
    {
        if (args.Count > m.Parameters.Count) throw new TemplateError($"macro '{m.Name}' takes {m.Parameters.Count} arguments, got {args.Count}");
        var scope = new Scope(definitionScope);
        for (int i = 0; i < m.Parameters.Count; i++)
        {
            var (name, def) = m.Parameters[i];
            TemplateValue value = i < args.Count ? args[i]
                : kwargs.TryGetValue(name, out TemplateValue? kw) ? kw
                : def != null ? Evaluate(def, scope) : TemplateValue.Undefined(name);
            scope.Set(name, value);
        }
        foreach (string key in kwargs.Keys)
            if (!m.Parameters.Any(p => p.Name == key)) throw new TemplateError($"macro '{m.Name}' has no parameter '{key}'");
        var sb = new StringBuilder();
        Execute(m.Body, scope, sb);
        return TemplateValue.FromString(sb.ToString());
    });

    private TemplateValue Evaluate(JinjaExpr expr, Scope scope)
    {
        try
        {
            return EvaluateCore(expr, scope);
        }
        catch (TemplateError e)
        {
            throw ChatTemplateErrors.At(expr.Line, e.Message, e.RaisedByTemplate);
        }
    }

    private TemplateValue EvaluateCore(JinjaExpr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                return scope.Lookup(n.Name);
            case ListExpr l:
                return TemplateValue.FromList(l.Items.Select(x => Evaluate(x, scope)).ToList());
            case DictExpr d:
            {
                var dict = new OrderedDictionary<string, TemplateValue>();
                foreach (var (k, v) in d.Items)
                {
                    TemplateValue key = Evaluate(k, scope);
                    if (key.Kind != TemplateKind.String) throw new TemplateError($"dict keys must be strings, got {key.TypeName}");
                    dict[key.AsString] = Evaluate(v, scope);
                }
                return TemplateValue.FromDict(dict);
            }
            case AttributeExpr a:
            {
                TemplateValue target = Evaluate(a.Target, scope);
                if (JinjaBuiltins.IsMethod(target, a.Name))
                    return TemplateValue.FromFunction((args, kwargs) => JinjaBuiltins.CallMethod(target, a.Name, args.ToList(), kwargs.ToDictionary()));
                return JinjaBuiltins.GetAttribute(target, a.Name);
            }
            case IndexExpr i:
                return JinjaBuiltins.GetItem(Evaluate(i.Target, scope), Evaluate(i.Index, scope));
            case SliceExpr s:
                return Slice(Evaluate(s.Target, scope), OptionalInt(s.Start, scope), OptionalInt(s.Stop, scope), OptionalInt(s.Step, scope));
            case CallExpr c:
                return Call(c, scope);
            case FilterExpr f:
            {
                TemplateValue target = Evaluate(f.Target, scope);
                var (args, kwargs) = EvaluateArguments(f.Args, f.Kwargs, scope);
                return JinjaBuiltins.ApplyFilter(f.Name, target, args, kwargs);
            }
            case TestExpr t:
            {
                TemplateValue target = Evaluate(t.Target, scope);
                var args = t.Args.Select(x => Evaluate(x, scope)).ToList();
                return TemplateValue.FromBool(JinjaBuiltins.ApplyTest(t.Name, target, args) != t.Negated);
            }
            case UnaryExpr u:
            {
                TemplateValue v = Evaluate(u.Operand, scope);
                return u.Op switch
                {
                    "not" => TemplateValue.FromBool(!v.IsTruthy),
                    "-" when v.Kind == TemplateKind.Float => TemplateValue.FromFloat(-v.AsFloat),
                    "-" when v.IsNumber => TemplateValue.FromInt(-v.AsInt),
                    "+" when v.IsNumber => v,
                    _ => throw new TemplateError($"bad operand type for unary {u.Op}: '{v.TypeName}'"),
                };
            }
            case BinaryExpr b:
                return Binary(b, scope);
            case ConditionalExpr c:
                return Evaluate(c.Condition, scope).IsTruthy ? Evaluate(c.Then, scope)
                    : c.Else != null ? Evaluate(c.Else, scope) : TemplateValue.Undefined("else");
            default:
                throw new TemplateError($"unsupported expression {expr.GetType().Name}");
        }
    }

    private long? OptionalInt(JinjaExpr? e, Scope scope)
    {
        if (e == null) return null;
        TemplateValue v = Evaluate(e, scope);
        if (v.IsNone) return null;
        if (v.Kind is not (TemplateKind.Int or TemplateKind.Bool)) throw new TemplateError($"slice indices must be integers, got {v.TypeName}");
        return v.AsInt;
    }

    /// <summary>Python slicing of lists and strings.</summary>
    private static TemplateValue Slice(TemplateValue target, long? start, long? stop, long? step)
    {
        int n = target.Kind switch
        {
            TemplateKind.List => target.AsList.Count,
            TemplateKind.String => target.AsString.Length,
            _ => throw new TemplateError($"'{target.TypeName}' object is not subscriptable"),
        };
        long st = step ?? 1;
        if (st == 0) throw new TemplateError("slice step cannot be zero");
        long Clamp(long? v, long def, long lo, long hi)
        {
            if (v == null) return def;
            long x = v.Value < 0 ? v.Value + n : v.Value;
            return Math.Clamp(x, lo, hi);
        }
        long from = st > 0 ? Clamp(start, 0, 0, n) : Clamp(start, n - 1, -1, n - 1);
        long to = st > 0 ? Clamp(stop, n, 0, n) : Clamp(stop, -1, -1, n - 1);
        var indices = new List<int>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) indices.Add((int)i);
        if (target.Kind == TemplateKind.String)
        {
            string s = target.AsString;
            return TemplateValue.FromString(string.Concat(indices.Select(i => s[i])));
        }
        return TemplateValue.FromList(indices.Select(i => target.AsList[i]).ToList());
    }

    private (List<TemplateValue>, Dictionary<string, TemplateValue>) EvaluateArguments(List<JinjaExpr> args, List<(string Name, JinjaExpr Value)> kwargs, Scope scope)
    {
        var a = args.Select(x => Evaluate(x, scope)).ToList();
        var k = new Dictionary<string, TemplateValue>();
        foreach (var (name, value) in kwargs) k[name] = Evaluate(value, scope);
        return (a, k);
    }

    private TemplateValue Call(CallExpr c, Scope scope)
    {
        if (c.Function is AttributeExpr method)
        {
            TemplateValue target = Evaluate(method.Target, scope);
            var (margs, mkwargs) = EvaluateArguments(c.Args, c.Kwargs, scope);
            if (JinjaBuiltins.IsMethod(target, method.Name)) return JinjaBuiltins.CallMethod(target, method.Name, margs, mkwargs);
            TemplateValue member = JinjaBuiltins.GetAttribute(target, method.Name);
            if (member.Kind == TemplateKind.Function) return member.AsFunction(margs, mkwargs);
            throw new TemplateError(member.IsUndefined ? $"unsupported method '{method.Name}' on {target.TypeName}" : $"'{member.TypeName}' object '{method.Name}' is not callable");
        }
        TemplateValue function = Evaluate(c.Function, scope);
        var (args, kwargs) = EvaluateArguments(c.Args, c.Kwargs, scope);
        if (function.Kind == TemplateKind.Function) return function.AsFunction(args, kwargs);
        string name = c.Function switch
        {
            NameExpr n => n.Name,
            AttributeExpr a => a.Name,
            _ => "expression",
        };
        if (function.IsUndefined)
            throw new TemplateError(c.Function is NameExpr ? $"unsupported function '{name}'" : $"unsupported method '{name}'");
        throw new TemplateError($"'{function.TypeName}' object '{name}' is not callable");
    }

    private TemplateValue Binary(BinaryExpr b, Scope scope)
    {
        if (b.Op == "and")
        {
            TemplateValue left = Evaluate(b.Left, scope);
            return left.IsTruthy ? Evaluate(b.Right, scope) : left;
        }
        if (b.Op == "or")
        {
            TemplateValue left = Evaluate(b.Left, scope);
            return left.IsTruthy ? left : Evaluate(b.Right, scope);
        }
        TemplateValue l = Evaluate(b.Left, scope), r = Evaluate(b.Right, scope);
        return b.Op switch
        {
            "==" => TemplateValue.FromBool(TemplateValue.PyEquals(l, r)),
            "!=" => TemplateValue.FromBool(!TemplateValue.PyEquals(l, r)),
            "<" => TemplateValue.FromBool(JinjaBuiltins.Compare(l, r) < 0),
            "<=" => TemplateValue.FromBool(JinjaBuiltins.Compare(l, r) <= 0),
            ">" => TemplateValue.FromBool(JinjaBuiltins.Compare(l, r) > 0),
            ">=" => TemplateValue.FromBool(JinjaBuiltins.Compare(l, r) >= 0),
            "in" => TemplateValue.FromBool(Contains(r, l)),
            "notin" => TemplateValue.FromBool(!Contains(r, l)),
            "~" => TemplateValue.FromString(l.ToString() + r.ToString()),
            _ => Arithmetic(b.Op, l, r),
        };
    }

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(TemplateValue container, TemplateValue item) => container.Kind switch
    {
        TemplateKind.String when item.Kind == TemplateKind.String => container.AsString.Contains(item.AsString, StringComparison.Ordinal),
        TemplateKind.String => throw new TemplateError($"'in <string>' requires string as left operand, not {item.TypeName}"),
        TemplateKind.List => container.AsList.Any(x => TemplateValue.PyEquals(x, item)),
        TemplateKind.Dict => item.Kind == TemplateKind.String && container.AsDict.ContainsKey(item.AsString),
        TemplateKind.Undefined => false,
        _ => throw new TemplateError($"argument of type '{container.TypeName}' is not iterable"),
    };

    /// <summary>Python arithmetic: <c>+ - * / // % **</c> on numbers, <c>+</c> on strings and lists, <c>*</c> repeating them.</summary>
    public static TemplateValue Arithmetic(string op, TemplateValue l, TemplateValue r)
    {
        if (l.IsNumber && r.IsNumber)
        {
            bool isFloat = l.Kind == TemplateKind.Float || r.Kind == TemplateKind.Float;
            if (op == "/")
            {
                if (r.AsFloat == 0) throw new TemplateError("division by zero");
                return TemplateValue.FromFloat(l.AsFloat / r.AsFloat);
            }
            if (isFloat)
            {
                double a = l.AsFloat, c = r.AsFloat;
                if ((op == "//" || op == "%") && c == 0) throw new TemplateError("float division by zero");
                return TemplateValue.FromFloat(op switch
                {
                    "+" => a + c,
                    "-" => a - c,
                    "*" => a * c,
                    "//" => Math.Floor(a / c),
                    "%" => a - c * Math.Floor(a / c),
                    "**" => Math.Pow(a, c),
                    _ => throw new TemplateError($"unsupported operator '{op}'"),
                });
            }
            long x = l.AsInt, y = r.AsInt;
            if ((op == "//" || op == "%") && y == 0) throw new TemplateError("integer division or modulo by zero");
            return op switch
            {
                "+" => TemplateValue.FromInt(x + y),
                "-" => TemplateValue.FromInt(x - y),
                "*" => TemplateValue.FromInt(x * y),
                "//" => TemplateValue.FromInt(FloorDiv(x, y)),
                "%" => TemplateValue.FromInt(x - y * FloorDiv(x, y)),
                "**" => y >= 0 ? TemplateValue.FromInt((long)Math.Pow(x, y)) : TemplateValue.FromFloat(Math.Pow(x, y)),
                _ => throw new TemplateError($"unsupported operator '{op}'"),
            };
        }
        if (op == "+" && l.Kind == TemplateKind.String && r.Kind == TemplateKind.String) return TemplateValue.FromString(l.AsString + r.AsString);
        if (op == "+" && l.Kind == TemplateKind.List && r.Kind == TemplateKind.List) return TemplateValue.FromList([.. l.AsList, .. r.AsList]);
        if (op == "*" && l.Kind == TemplateKind.String && r.Kind is TemplateKind.Int or TemplateKind.Bool)
            return TemplateValue.FromString(string.Concat(Enumerable.Repeat(l.AsString, (int)Math.Max(0, r.AsInt))));
        if (op == "*" && l.Kind == TemplateKind.List && r.Kind is TemplateKind.Int or TemplateKind.Bool)
            return TemplateValue.FromList(Enumerable.Repeat(l.AsList, (int)Math.Max(0, r.AsInt)).SelectMany(x => x).ToList());
        if (l.IsUndefined) throw new TemplateError($"'{l.UndefinedName}' is undefined");
        if (r.IsUndefined) throw new TemplateError($"'{r.UndefinedName}' is undefined");
        throw new TemplateError($"unsupported operand type(s) for {op}: '{l.TypeName}' and '{r.TypeName}'");
    }

    private static long FloorDiv(long x, long y)
    {
        long q = x / y;
        return (x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q;
    }
}
