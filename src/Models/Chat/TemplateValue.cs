using System.Globalization;
using System.Text;

namespace SpecCore.Models.Chat;

/// <summary>The kinds of value a template works with (Python's types as Jinja sees them).</summary>
internal enum TemplateKind { Undefined, None, Bool, Int, Float, String, List, Dict, Function }

/// <summary>A callable value: a global function, a macro or a bound method.</summary>
internal delegate TemplateValue TemplateFunction(IReadOnlyList<TemplateValue> args, IReadOnlyDictionary<string, TemplateValue> kwargs);

/// <summary>
/// One template value. Lists and dicts are mutable only through <c>set ns.x = ...</c> on a namespace;
/// dicts keep insertion order as Python's do. Undefined carries the name that was looked up.
/// </summary>
internal sealed class TemplateValue
{
    public static readonly TemplateValue None = new(TemplateKind.None);
    public static readonly TemplateValue True = new(TemplateKind.Bool) { _int = 1 };
    public static readonly TemplateValue False = new(TemplateKind.Bool);
    public static readonly TemplateValue EmptyString = FromString("");

    private long _int;
    private double _float;
    private string? _string;
    private List<TemplateValue>? _list;
    private OrderedDictionary<string, TemplateValue>? _dict;
    private TemplateFunction? _function;

    private TemplateValue(TemplateKind kind) => Kind = kind;

    public TemplateKind Kind { get; }

    /// <summary>For a dict: whether it is a <c>namespace()</c>, whose attributes may be assigned.</summary>
    public bool IsNamespace { get; private init; }

    /// <summary>For Undefined: the name that was looked up (for messages).</summary>
    public string? UndefinedName { get; private init; }

    public static TemplateValue Undefined(string name) => new(TemplateKind.Undefined) { UndefinedName = name };
    public static TemplateValue FromBool(bool b) => b ? True : False;
    public static TemplateValue FromInt(long i) => new(TemplateKind.Int) { _int = i };
    public static TemplateValue FromFloat(double d) => new(TemplateKind.Float) { _float = d };
    public static TemplateValue FromString(string s) => new(TemplateKind.String) { _string = s };
    public static TemplateValue FromList(List<TemplateValue> items) => new(TemplateKind.List) { _list = items };
    public static TemplateValue FromDict(OrderedDictionary<string, TemplateValue> items, bool isNamespace = false) =>
        new(TemplateKind.Dict) { _dict = items, IsNamespace = isNamespace };
    public static TemplateValue FromFunction(TemplateFunction f) => new(TemplateKind.Function) { _function = f };

    public bool IsUndefined => Kind == TemplateKind.Undefined;
    public bool IsNone => Kind == TemplateKind.None;
    public bool IsNumber => Kind is TemplateKind.Int or TemplateKind.Float or TemplateKind.Bool;

    public bool AsBool => _int != 0;
    public long AsInt => Kind == TemplateKind.Float ? (long)_float : _int;
    public double AsFloat => Kind == TemplateKind.Float ? _float : _int;
    public string AsString => _string!;
    public List<TemplateValue> AsList => _list!;
    public OrderedDictionary<string, TemplateValue> AsDict => _dict!;
    public TemplateFunction AsFunction => _function!;

    /// <summary>Python truthiness.</summary>
    public bool IsTruthy => Kind switch
    {
        TemplateKind.Undefined or TemplateKind.None => false,
        TemplateKind.Bool or TemplateKind.Int => _int != 0,
        TemplateKind.Float => _float != 0,
        TemplateKind.String => _string!.Length > 0,
        TemplateKind.List => _list!.Count > 0,
        TemplateKind.Dict => _dict!.Count > 0,
        _ => true,
    };

    /// <summary>Python's type name, for messages.</summary>
    public string TypeName => Kind switch
    {
        TemplateKind.Undefined => "undefined",
        TemplateKind.None => "NoneType",
        TemplateKind.Bool => "bool",
        TemplateKind.Int => "int",
        TemplateKind.Float => "float",
        TemplateKind.String => "str",
        TemplateKind.List => "list",
        TemplateKind.Dict => IsNamespace ? "Namespace" : "dict",
        _ => "function",
    };

    /// <summary>What <c>{{ value }}</c> prints: Python's <c>str()</c>, undefined as empty.</summary>
    public override string ToString() => Kind switch
    {
        TemplateKind.Undefined => "",
        TemplateKind.String => _string!,
        _ => Repr(),
    };

    /// <summary>Python's <c>repr()</c>.</summary>
    public string Repr()
    {
        var sb = new StringBuilder();
        AppendRepr(sb);
        return sb.ToString();
    }

    private void AppendRepr(StringBuilder sb)
    {
        switch (Kind)
        {
            case TemplateKind.Undefined: break;
            case TemplateKind.None: sb.Append("None"); break;
            case TemplateKind.Bool: sb.Append(AsBool ? "True" : "False"); break;
            case TemplateKind.Int: sb.Append(_int.ToString(CultureInfo.InvariantCulture)); break;
            case TemplateKind.Float: sb.Append(FormatFloat(_float)); break;
            case TemplateKind.String: AppendStringRepr(sb, _string!); break;
            case TemplateKind.List:
                sb.Append('[');
                for (int i = 0; i < _list!.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    _list[i].AppendRepr(sb);
                }
                sb.Append(']');
                break;
            case TemplateKind.Dict:
                sb.Append(IsNamespace ? "<Namespace {" : "{");
                bool first = true;
                foreach (var (k, v) in _dict!)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendStringRepr(sb, k);
                    sb.Append(": ");
                    v.AppendRepr(sb);
                }
                sb.Append(IsNamespace ? "}>" : "}");
                break;
            default: sb.Append("<function>"); break;
        }
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }

    /// <summary>Python's <c>repr(float)</c>: the shortest round-trip digits, scientific below 1e-4 or from 1e16.</summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string sign = d < 0 || (d == 0 && double.IsNegative(d)) ? "-" : "";
        if (d == 0) return sign + "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOfAny(['E', 'e']);
        int exp = e >= 0 ? int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        string mantissa = e >= 0 ? r[..e] : r;
        int point = mantissa.IndexOf('.');
        string digits = point >= 0 ? mantissa.Remove(point, 1) : mantissa;
        int pointPos = point >= 0 ? point : mantissa.Length;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int sci = pointPos - 1 - lead + exp; // the decimal exponent of the first digit
        if (sci < -4 || sci >= 16)
        {
            string m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            return sign + m + "e" + (sci < 0 ? "-" : "+") + Math.Abs(sci).ToString("00", CultureInfo.InvariantCulture);
        }
        if (sci < 0) return sign + "0." + new string('0', -sci - 1) + digits;
        string intPart = digits.Length > sci + 1 ? digits[..(sci + 1)] : digits.PadRight(sci + 1, '0');
        string frac = digits.Length > sci + 1 ? digits[(sci + 1)..] : "0";
        return sign + intPart + "." + frac;
    }

    /// <summary>Python <c>==</c> (numbers compare across int/float/bool).</summary>
    public static bool PyEquals(TemplateValue a, TemplateValue b)
    {
        if (a.IsNumber && b.IsNumber)
            return a.Kind == TemplateKind.Float || b.Kind == TemplateKind.Float ? a.AsFloat == b.AsFloat : a._int == b._int;
        if (a.Kind != b.Kind) return false;
        switch (a.Kind)
        {
            case TemplateKind.Undefined:
            case TemplateKind.None: return true;
            case TemplateKind.String: return a._string == b._string;
            case TemplateKind.List:
                if (a._list!.Count != b._list!.Count) return false;
                for (int i = 0; i < a._list.Count; i++)
                    if (!PyEquals(a._list[i], b._list[i])) return false;
                return true;
            case TemplateKind.Dict:
                if (a._dict!.Count != b._dict!.Count) return false;
                foreach (var (k, v) in a._dict)
                    if (!b._dict.TryGetValue(k, out var w) || !PyEquals(v, w)) return false;
                return true;
            default: return ReferenceEquals(a, b);
        }
    }
}
