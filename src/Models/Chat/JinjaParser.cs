using System.Globalization;

namespace SpecCore.Models.Chat;

/// <summary>
/// Recursive-descent parser from <see cref="JinjaLexer"/> tokens to a <see cref="JinjaNode"/> tree.
/// Operator precedence follows Jinja's parser: conditional, or, and, not, comparison, + -, ~, * / // %, **,
/// unary, then postfix (attribute, index, slice, call) and filters / tests. Filter and test names are
/// checked here, so an unsupported one fails when the template loads.
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> s_compareOps = ["==", "!=", "<", "<=", ">", ">="];
    private readonly List<JinjaToken> _tokens;
    private int _pos;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static List<JinjaNode> Parse(string source) => Parse(JinjaLexer.Tokenize(source));

    public static List<JinjaNode> Parse(List<JinjaToken> tokens)
    {
        var parser = new JinjaParser(tokens);
        var body = parser.ParseBody([], out string? end);
        if (end != null) throw ChatTemplateErrors.At(parser.Current.Line, $"unexpected '{end}'");
        return body;
    }

    private JinjaToken Current => _tokens[_pos];
    private JinjaToken Next() => _tokens[_pos++];

    private bool IsOp(string op) => Current.Kind == JinjaTokenKind.Operator && Current.Value == op;
    private bool IsName(string name) => Current.Kind == JinjaTokenKind.Name && Current.Value == name;
    private bool IsNameAt(int offset, string name) =>
        _pos + offset < _tokens.Count && _tokens[_pos + offset].Kind == JinjaTokenKind.Name && _tokens[_pos + offset].Value == name;

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw Unexpected($"'{op}'");
        _pos++;
    }

    private string ExpectName()
    {
        if (Current.Kind != JinjaTokenKind.Name) throw Unexpected("a name");
        return Next().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Current.Kind != JinjaTokenKind.BlockEnd) throw Unexpected("'%}'");
        _pos++;
    }

    private InvalidDataException Unexpected(string expected)
    {
        string got = Current.Kind switch
        {
            JinjaTokenKind.End => "end of template",
            JinjaTokenKind.BlockEnd => "'%}'",
            JinjaTokenKind.VariableEnd => "'}}'",
            JinjaTokenKind.String => "a string",
            _ => $"'{Current.Value}'",
        };
        return ChatTemplateErrors.At(Current.Line, $"expected {expected}, got {got}");
    }

    /// <summary>Parses statements until one of <paramref name="endTags"/> opens a block (left unconsumed after its name).</summary>
    private List<JinjaNode> ParseBody(HashSet<string> endTags, out string? endTag)
    {
        var nodes = new List<JinjaNode>();
        while (true)
        {
            JinjaToken t = Current;
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    endTag = null;
                    return nodes;
                case JinjaTokenKind.Text:
                    _pos++;
                    nodes.Add(new TextNode(t.Line, t.Value));
                    break;
                case JinjaTokenKind.VariableBegin:
                    _pos++;
                    var expr = ParseExpression();
                    if (Current.Kind != JinjaTokenKind.VariableEnd) throw Unexpected("'}}'");
                    _pos++;
                    nodes.Add(new OutputNode(t.Line, expr));
                    break;
                case JinjaTokenKind.BlockBegin:
                    _pos++;
                    if (Current.Kind != JinjaTokenKind.Name) throw Unexpected("a tag name");
                    string tag = Current.Value;
                    if (endTags.Contains(tag))
                    {
                        _pos++;
                        endTag = tag;
                        return nodes;
                    }
                    nodes.Add(ParseTag(t.Line));
                    break;
                default:
                    throw Unexpected("text or a tag");
            }
        }
    }

    private List<JinjaNode> ParseUntil(int line, string opener, string endTag)
    {
        var body = ParseBody([endTag], out string? end);
        if (end == null) throw ChatTemplateErrors.At(line, $"'{opener}' without '{endTag}'");
        ExpectBlockEnd();
        return body;
    }

    private JinjaNode ParseTag(int line)
    {
        string tag = Next().Value;
        switch (tag)
        {
            case "if": return ParseIf(line);
            case "for": return ParseFor(line);
            case "set": return ParseSet(line);
            case "macro": return ParseMacro(line);
            case "break":
                ExpectBlockEnd();
                return new BreakNode(line);
            case "continue":
                ExpectBlockEnd();
                return new ContinueNode(line);
            case "generation":
                ExpectBlockEnd();
                return new BodyNode(line, ParseUntil(line, "generation", "endgeneration"));
            default:
                throw ChatTemplateErrors.At(line, $"unsupported tag '{tag}'");
        }
    }

    private IfNode ParseIf(int line)
    {
        var branches = new List<(JinjaExpr, List<JinjaNode>)>();
        List<JinjaNode>? elseBody = null;
        JinjaExpr condition = ParseExpression();
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out string? end);
            if (end == null) throw ChatTemplateErrors.At(line, "'if' without 'endif'");
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                ExpectBlockEnd();
                continue;
            }
            ExpectBlockEnd();
            if (end == "else") elseBody = ParseUntil(line, "if", "endif");
            return new IfNode(line, branches, elseBody);
        }
    }

    private ForNode ParseFor(int line)
    {
        var targets = new List<string> { ExpectName() };
        while (IsOp(","))
        {
            _pos++;
            targets.Add(ExpectName());
        }
        if (!IsName("in")) throw Unexpected("'in'");
        _pos++;
        JinjaExpr iterable = ParseOr(); // a bare 'if' after the iterable is the loop filter
        JinjaExpr? filter = null;
        if (IsName("if"))
        {
            _pos++;
            filter = ParseOr();
        }
        if (IsName("recursive")) throw ChatTemplateErrors.At(Current.Line, "unsupported 'recursive' loop");
        ExpectBlockEnd();
        var body = ParseBody(["else", "endfor"], out string? end);
        if (end == null) throw ChatTemplateErrors.At(line, "'for' without 'endfor'");
        ExpectBlockEnd();
        List<JinjaNode>? elseBody = end == "else" ? ParseUntil(line, "for", "endfor") : null;
        return new ForNode(line, targets, iterable, filter, body, elseBody);
    }

    private JinjaNode ParseSet(int line)
    {
        string name = ExpectName();
        JinjaExpr target = new NameExpr(line, name);
        if (Current.Kind == JinjaTokenKind.BlockEnd)
        {
            _pos++;
            return new SetBlockNode(line, name, ParseUntil(line, "set", "endset"));
        }
        if (IsOp("."))
        {
            _pos++;
            target = new AttributeExpr(line, target, ExpectName());
        }
        else if (IsOp(","))
        {
            var names = new List<JinjaExpr> { target };
            while (IsOp(","))
            {
                _pos++;
                names.Add(new NameExpr(line, ExpectName()));
            }
            target = new ListExpr(line, names, true);
        }
        ExpectOp("=");
        JinjaExpr value = ParseTupleOrExpression();
        ExpectBlockEnd();
        return new SetNode(line, target, value);
    }

    private MacroNode ParseMacro(int line)
    {
        string name = ExpectName();
        ExpectOp("(");
        var parameters = new List<(string, JinjaExpr?)>();
        while (!IsOp(")"))
        {
            if (parameters.Count > 0) ExpectOp(",");
            string p = ExpectName();
            JinjaExpr? def = null;
            if (IsOp("="))
            {
                _pos++;
                def = ParseExpression();
            }
            parameters.Add((p, def));
        }
        _pos++;
        ExpectBlockEnd();
        return new MacroNode(line, name, parameters, ParseUntil(line, "macro", "endmacro"));
    }

    private JinjaExpr ParseTupleOrExpression()
    {
        int line = Current.Line;
        JinjaExpr first = ParseExpression();
        if (!IsOp(",")) return first;
        var items = new List<JinjaExpr> { first };
        while (IsOp(","))
        {
            _pos++;
            items.Add(ParseExpression());
        }
        return new ListExpr(line, items, true);
    }

    public JinjaExpr ParseExpression()
    {
        JinjaExpr expr = ParseOr();
        while (IsName("if"))
        {
            int line = Next().Line;
            JinjaExpr condition = ParseOr();
            JinjaExpr? otherwise = null;
            if (IsName("else"))
            {
                _pos++;
                otherwise = ParseExpression();
            }
            expr = new ConditionalExpr(line, condition, expr, otherwise);
        }
        return expr;
    }

    private JinjaExpr ParseOr()
    {
        JinjaExpr left = ParseAnd();
        while (IsName("or"))
        {
            int line = Next().Line;
            left = new BinaryExpr(line, "or", left, ParseAnd());
        }
        return left;
    }

    private JinjaExpr ParseAnd()
    {
        JinjaExpr left = ParseNot();
        while (IsName("and"))
        {
            int line = Next().Line;
            left = new BinaryExpr(line, "and", left, ParseNot());
        }
        return left;
    }

    private JinjaExpr ParseNot()
    {
        if (IsName("not"))
        {
            int line = Next().Line;
            return new UnaryExpr(line, "not", ParseNot());
        }
        return ParseCompare();
    }

    private JinjaExpr ParseCompare()
    {
        JinjaExpr left = ParseAdd();
        while (true)
        {
            int line = Current.Line;
            if (Current.Kind == JinjaTokenKind.Operator && s_compareOps.Contains(Current.Value))
            {
                string op = Next().Value;
                left = new BinaryExpr(line, op, left, ParseAdd());
            }
            else if (IsName("in"))
            {
                _pos++;
                left = new BinaryExpr(line, "in", left, ParseAdd());
            }
            else if (IsName("not") && IsNameAt(1, "in"))
            {
                _pos += 2;
                left = new BinaryExpr(line, "notin", left, ParseAdd());
            }
            else return left;
        }
    }

    private JinjaExpr ParseAdd()
    {
        JinjaExpr left = ParseConcat();
        while (IsOp("+") || IsOp("-"))
        {
            JinjaToken op = Next();
            left = new BinaryExpr(op.Line, op.Value, left, ParseConcat());
        }
        return left;
    }

    private JinjaExpr ParseConcat()
    {
        JinjaExpr left = ParseMul();
        while (IsOp("~"))
        {
            int line = Next().Line;
            left = new BinaryExpr(line, "~", left, ParseMul());
        }
        return left;
    }

    private JinjaExpr ParseMul()
    {
        JinjaExpr left = ParsePow();
        while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%"))
        {
            JinjaToken op = Next();
            left = new BinaryExpr(op.Line, op.Value, left, ParsePow());
        }
        return left;
    }

    private JinjaExpr ParsePow()
    {
        JinjaExpr left = ParseUnary(true);
        while (IsOp("**"))
        {
            int line = Next().Line;
            left = new BinaryExpr(line, "**", left, ParseUnary(true));
        }
        return left;
    }

    private JinjaExpr ParseUnary(bool withFilter)
    {
        JinjaExpr node;
        if (IsOp("-") || IsOp("+"))
        {
            JinjaToken op = Next();
            node = new UnaryExpr(op.Line, op.Value, ParseUnary(false));
        }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        return withFilter ? ParseFilterAndTests(node) : node;
    }

    private JinjaExpr ParsePrimary()
    {
        JinjaToken t = Next();
        switch (t.Kind)
        {
            case JinjaTokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new LiteralExpr(t.Line, TemplateValue.True),
                    "false" or "False" => new LiteralExpr(t.Line, TemplateValue.False),
                    "none" or "None" => new LiteralExpr(t.Line, TemplateValue.None),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case JinjaTokenKind.String:
                string s = t.Value;
                while (Current.Kind == JinjaTokenKind.String) s += Next().Value; // adjacent literals concatenate
                return new LiteralExpr(t.Line, TemplateValue.FromString(s));
            case JinjaTokenKind.Int:
                if (!long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long i))
                    throw ChatTemplateErrors.At(t.Line, $"integer literal {t.Value} is too large");
                return new LiteralExpr(t.Line, TemplateValue.FromInt(i));
            case JinjaTokenKind.Float:
                return new LiteralExpr(t.Line, TemplateValue.FromFloat(double.Parse(t.Value, CultureInfo.InvariantCulture)));
            case JinjaTokenKind.Operator when t.Value == "(":
            {
                if (IsOp(")"))
                {
                    _pos++;
                    return new ListExpr(t.Line, [], true);
                }
                JinjaExpr inner = ParseExpression();
                if (IsOp(","))
                {
                    var items = new List<JinjaExpr> { inner };
                    while (IsOp(","))
                    {
                        _pos++;
                        if (IsOp(")")) break;
                        items.Add(ParseExpression());
                    }
                    inner = new ListExpr(t.Line, items, true);
                }
                ExpectOp(")");
                return inner;
            }
            case JinjaTokenKind.Operator when t.Value == "[":
            {
                var items = new List<JinjaExpr>();
                while (!IsOp("]"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("]")) break;
                    }
                    items.Add(ParseExpression());
                }
                _pos++;
                return new ListExpr(t.Line, items, false);
            }
            case JinjaTokenKind.Operator when t.Value == "{":
            {
                var items = new List<(JinjaExpr, JinjaExpr)>();
                while (!IsOp("}"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("}")) break;
                    }
                    JinjaExpr key = ParseExpression();
                    ExpectOp(":");
                    items.Add((key, ParseExpression()));
                }
                _pos++;
                return new DictExpr(t.Line, items);
            }
            default:
                _pos--;
                throw Unexpected("an expression");
        }
    }

    private JinjaExpr ParsePostfix(JinjaExpr node)
    {
        while (true)
        {
            int line = Current.Line;
            if (IsOp("."))
            {
                _pos++;
                if (Current.Kind == JinjaTokenKind.Int) node = new IndexExpr(line, node, new LiteralExpr(line, TemplateValue.FromInt(long.Parse(Next().Value, CultureInfo.InvariantCulture))));
                else node = new AttributeExpr(line, node, ExpectName());
            }
            else if (IsOp("["))
            {
                _pos++;
                node = ParseSubscript(line, node);
            }
            else if (IsOp("("))
            {
                _pos++;
                var (args, kwargs) = ParseArguments();
                node = new CallExpr(line, node, args, kwargs);
            }
            else return node;
        }
    }

    private JinjaExpr ParseSubscript(int line, JinjaExpr target)
    {
        JinjaExpr? start = null, stop = null, step = null;
        if (!IsOp(":")) start = ParseExpression();
        if (IsOp("]"))
        {
            _pos++;
            return new IndexExpr(line, target, start ?? throw Unexpected("an index"));
        }
        ExpectOp(":");
        if (!IsOp(":") && !IsOp("]")) stop = ParseExpression();
        if (IsOp(":"))
        {
            _pos++;
            if (!IsOp("]")) step = ParseExpression();
        }
        ExpectOp("]");
        return new SliceExpr(line, target, start, stop, step);
    }

    /// <summary>Arguments after '(' up to and including ')'.</summary>
    private (List<JinjaExpr>, List<(string, JinjaExpr)>) ParseArguments()
    {
        var args = new List<JinjaExpr>();
        var kwargs = new List<(string, JinjaExpr)>();
        while (!IsOp(")"))
        {
            if (args.Count + kwargs.Count > 0)
            {
                ExpectOp(",");
                if (IsOp(")")) break;
            }
            if (Current.Kind == JinjaTokenKind.Name && _tokens[_pos + 1].Kind == JinjaTokenKind.Operator && _tokens[_pos + 1].Value == "=")
            {
                string name = Next().Value;
                _pos++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0) throw ChatTemplateErrors.At(Current.Line, "positional argument after keyword argument");
                args.Add(ParseExpression());
            }
        }
        _pos++;
        return (args, kwargs);
    }

    private JinjaExpr ParseFilterAndTests(JinjaExpr node)
    {
        while (true)
        {
            int line = Current.Line;
            if (IsOp("|"))
            {
                _pos++;
                string name = ExpectName();
                if (!JinjaBuiltins.IsFilter(name)) throw ChatTemplateErrors.At(line, $"unsupported filter '{name}'");
                var (args, kwargs) = (new List<JinjaExpr>(), new List<(string, JinjaExpr)>());
                if (IsOp("("))
                {
                    _pos++;
                    (args, kwargs) = ParseArguments();
                }
                node = new FilterExpr(line, node, name, args, kwargs);
            }
            else if (IsName("is"))
            {
                _pos++;
                bool negated = false;
                if (IsName("not"))
                {
                    _pos++;
                    negated = true;
                }
                string name = Current.Kind == JinjaTokenKind.Name ? Next().Value
                    : Current.Kind == JinjaTokenKind.Operator && s_compareOps.Contains(Current.Value) ? Next().Value
                    : throw Unexpected("a test name");
                if (!JinjaBuiltins.IsTest(name)) throw ChatTemplateErrors.At(line, $"unsupported test '{name}'");
                var args = new List<JinjaExpr>();
                if (IsOp("("))
                {
                    _pos++;
                    var (a, kw) = ParseArguments();
                    if (kw.Count > 0) throw ChatTemplateErrors.At(line, $"test '{name}' takes no keyword arguments");
                    args = a;
                }
                else if (Current.Kind is JinjaTokenKind.String or JinjaTokenKind.Int or JinjaTokenKind.Float
                         || (Current.Kind == JinjaTokenKind.Name && Current.Value is not ("and" or "or" or "else" or "if" or "is" or "in" or "not")))
                {
                    args.Add(ParsePostfix(ParsePrimary()));
                }
                node = new TestExpr(line, node, name, args, negated);
            }
            else return node;
        }
    }
}
