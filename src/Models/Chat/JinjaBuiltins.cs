using System.Text;

namespace SpecCore.Models.Chat;

/// <summary>An evaluation error without a line; the interpreter adds the line of the expression.</summary>
internal sealed class TemplateError(string message, bool raisedByTemplate = false) : Exception(message)
{
    public bool RaisedByTemplate { get; } = raisedByTemplate;
}

/// <summary>
/// The filters, tests and methods (of str, dict and list values) the interpreter supports, with
/// Python / Jinja semantics. Names not listed here are errors.
/// </summary>
internal static class JinjaBuiltins
{
    private delegate TemplateValue Filter(TemplateValue value, List<TemplateValue> args, Dictionary<string, TemplateValue> kwargs);

    private static readonly Dictionary<string, Filter> s_filters = new()
    {
        ["trim"] = (v, a, k) => Str(Strip(AsStr(v, "trim"), Arg(a, k, 0, "chars"), true, true)),
        ["length"] = (v, a, k) => TemplateValue.FromInt(Length(v)),
        ["count"] = (v, a, k) => TemplateValue.FromInt(Length(v)),
        ["tojson"] = (v, a, k) =>
        {
            TemplateValue indent = Arg(a, k, 0, "indent");
            TemplateValue sortKeys = Arg(a, k, 1, "sort_keys");
            return Str(TemplateJson.ToJson(v, indent.Kind == TemplateKind.Int ? (int)indent.AsInt : null, sortKeys.IsTruthy));
        },
        ["string"] = (v, a, k) => Str(v.ToString()),
        ["upper"] = (v, a, k) => Str(AsStr(v, "upper").ToUpperInvariant()),
        ["lower"] = (v, a, k) => Str(AsStr(v, "lower").ToLowerInvariant()),
        ["capitalize"] = (v, a, k) => Str(Capitalize(AsStr(v, "capitalize"))),
        ["title"] = (v, a, k) => Str(Title(AsStr(v, "title"))),
        ["replace"] = (v, a, k) => Str(Replace(AsStr(v, "replace"), AsStr(Arg(a, k, 0, "old"), "replace"), AsStr(Arg(a, k, 1, "new"), "replace"), Arg(a, k, 2, "count"))),
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (v, a, k) => Iterate(v).FirstOrDefault() ?? TemplateValue.Undefined("first"),
        ["last"] = (v, a, k) => Iterate(v).LastOrDefault() ?? TemplateValue.Undefined("last"),
        ["join"] = (v, a, k) =>
        {
            TemplateValue sep = Arg(a, k, 0, "d"), attribute = Arg(a, k, 1, "attribute");
            IEnumerable<TemplateValue> items = Iterate(v);
            if (!attribute.IsUndefined) items = items.Select(x => GetItemOrAttribute(x, attribute));
            return Str(string.Join(sep.IsUndefined ? "" : sep.ToString(), items.Select(x => x.ToString())));
        },
        ["items"] = (v, a, k) => v.IsUndefined ? TemplateValue.FromList([]) : Items(v),
        ["dictsort"] = (v, a, k) => TemplateValue.FromList(Items(v).AsList.OrderBy(p => p.AsList[0].ToString(), StringComparer.OrdinalIgnoreCase).ToList()),
        ["safe"] = (v, a, k) => v,
        ["list"] = (v, a, k) => TemplateValue.FromList(Iterate(v).ToList()),
        ["reverse"] = (v, a, k) => v.Kind == TemplateKind.String ? Str(new string(v.AsString.Reverse().ToArray())) : TemplateValue.FromList(Iterate(v).Reverse().ToList()),
        ["unique"] = (v, a, k) =>
        {
            var result = new List<TemplateValue>();
            foreach (TemplateValue x in Iterate(v))
                if (!result.Any(r => TemplateValue.PyEquals(r, x))) result.Add(x);
            return TemplateValue.FromList(result);
        },
        ["sort"] = (v, a, k) =>
        {
            TemplateValue reverse = Arg(a, k, 0, "reverse"), attribute = Arg(a, k, 2, "attribute");
            var list = Iterate(v).ToList();
            Comparison<TemplateValue> cmp = attribute.IsUndefined ? Compare : (x, y) => Compare(GetItemOrAttribute(x, attribute), GetItemOrAttribute(y, attribute));
            var sorted = list.Order(Comparer<TemplateValue>.Create(cmp)).ToList();
            if (reverse.IsTruthy) sorted.Reverse();
            return TemplateValue.FromList(sorted);
        },
        ["selectattr"] = (v, a, k) => SelectAttr(v, a, true),
        ["rejectattr"] = (v, a, k) => SelectAttr(v, a, false),
        ["select"] = (v, a, k) => Select(v, a, true),
        ["reject"] = (v, a, k) => Select(v, a, false),
        ["map"] = Map,
        ["attr"] = (v, a, k) => GetAttribute(v, AsStr(Arg(a, k, 0, "name"), "attr")),
        ["int"] = (v, a, k) => ToInt(v, Arg(a, k, 0, "default")),
        ["float"] = (v, a, k) => ToFloat(v, Arg(a, k, 0, "default")),
        ["abs"] = (v, a, k) => v.Kind == TemplateKind.Float ? TemplateValue.FromFloat(Math.Abs(v.AsFloat)) : TemplateValue.FromInt(Math.Abs(Num(v, "abs").AsInt)),
        ["round"] = (v, a, k) =>
        {
            TemplateValue precision = Arg(a, k, 0, "precision");
            return TemplateValue.FromFloat(Math.Round(Num(v, "round").AsFloat, precision.IsUndefined ? 0 : (int)precision.AsInt, MidpointRounding.AwayFromZero));
        },
        ["sum"] = (v, a, k) => Iterate(v).Aggregate(TemplateValue.FromInt(0), (acc, x) => JinjaInterpreter.Arithmetic("+", acc, x)),
        ["min"] = (v, a, k) => Iterate(v).ToList() is { Count: > 0 } l ? l.Aggregate((x, y) => Compare(y, x) < 0 ? y : x) : TemplateValue.Undefined("min"),
        ["max"] = (v, a, k) => Iterate(v).ToList() is { Count: > 0 } l ? l.Aggregate((x, y) => Compare(y, x) > 0 ? y : x) : TemplateValue.Undefined("max"),
        ["indent"] = Indent,
        ["escape"] = (v, a, k) => Str(Escape(v.ToString())),
        ["e"] = (v, a, k) => Str(Escape(v.ToString())),
        ["wordcount"] = (v, a, k) => TemplateValue.FromInt(AsStr(v, "wordcount").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length),
    };

    private delegate bool Test(TemplateValue value, List<TemplateValue> args);

    private static readonly Dictionary<string, Test> s_tests = new()
    {
        ["defined"] = (v, a) => !v.IsUndefined,
        ["undefined"] = (v, a) => v.IsUndefined,
        ["none"] = (v, a) => v.IsNone,
        ["string"] = (v, a) => v.Kind == TemplateKind.String,
        ["mapping"] = (v, a) => v.Kind == TemplateKind.Dict,
        ["iterable"] = (v, a) => v.Kind is TemplateKind.String or TemplateKind.List or TemplateKind.Dict or TemplateKind.Undefined,
        ["sequence"] = (v, a) => v.Kind is TemplateKind.String or TemplateKind.List or TemplateKind.Dict,
        ["number"] = (v, a) => v.IsNumber,
        ["integer"] = (v, a) => v.Kind == TemplateKind.Int,
        ["float"] = (v, a) => v.Kind == TemplateKind.Float,
        ["boolean"] = (v, a) => v.Kind == TemplateKind.Bool,
        ["true"] = (v, a) => v.Kind == TemplateKind.Bool && v.AsBool,
        ["false"] = (v, a) => v.Kind == TemplateKind.Bool && !v.AsBool,
        ["callable"] = (v, a) => v.Kind == TemplateKind.Function,
        ["odd"] = (v, a) => Num(v, "odd").AsInt % 2 != 0,
        ["even"] = (v, a) => Num(v, "even").AsInt % 2 == 0,
        ["divisibleby"] = (v, a) => Num(v, "divisibleby").AsInt % Num(Arg(a, 0), "divisibleby").AsInt == 0,
        ["lower"] = (v, a) => v.Kind == TemplateKind.String && v.AsString == v.AsString.ToLowerInvariant(),
        ["upper"] = (v, a) => v.Kind == TemplateKind.String && v.AsString == v.AsString.ToUpperInvariant(),
        ["sameas"] = (v, a) => ReferenceEquals(v, Arg(a, 0)) || (v.Kind is TemplateKind.None or TemplateKind.Bool && v.Kind == Arg(a, 0).Kind && v.AsBool == Arg(a, 0).AsBool),
        ["in"] = (v, a) => JinjaInterpreter.Contains(Arg(a, 0), v),
        ["eq"] = (v, a) => TemplateValue.PyEquals(v, Arg(a, 0)),
        ["equalto"] = (v, a) => TemplateValue.PyEquals(v, Arg(a, 0)),
        ["=="] = (v, a) => TemplateValue.PyEquals(v, Arg(a, 0)),
        ["ne"] = (v, a) => !TemplateValue.PyEquals(v, Arg(a, 0)),
        ["!="] = (v, a) => !TemplateValue.PyEquals(v, Arg(a, 0)),
        ["lt"] = (v, a) => Compare(v, Arg(a, 0)) < 0,
        ["<"] = (v, a) => Compare(v, Arg(a, 0)) < 0,
        ["le"] = (v, a) => Compare(v, Arg(a, 0)) <= 0,
        ["<="] = (v, a) => Compare(v, Arg(a, 0)) <= 0,
        ["gt"] = (v, a) => Compare(v, Arg(a, 0)) > 0,
        [">"] = (v, a) => Compare(v, Arg(a, 0)) > 0,
        ["ge"] = (v, a) => Compare(v, Arg(a, 0)) >= 0,
        [">="] = (v, a) => Compare(v, Arg(a, 0)) >= 0,
    };

    public static bool IsFilter(string name) => s_filters.ContainsKey(name);

    public static bool IsTest(string name) => s_tests.ContainsKey(name);

    public static TemplateValue ApplyFilter(string name, TemplateValue value, List<TemplateValue> args, Dictionary<string, TemplateValue> kwargs) =>
        s_filters.TryGetValue(name, out Filter? f) ? f(value, args, kwargs) : throw new TemplateError($"unsupported filter '{name}'");

    public static bool ApplyTest(string name, TemplateValue value, List<TemplateValue> args) =>
        s_tests.TryGetValue(name, out Test? t) ? t(value, args) : throw new TemplateError($"unsupported test '{name}'");

    /// <summary>A method call <c>value.name(args)</c> on a str, dict or list.</summary>
    public static TemplateValue CallMethod(TemplateValue target, string name, List<TemplateValue> a, Dictionary<string, TemplateValue> k)
    {
        if (target.Kind == TemplateKind.String)
        {
            string s = target.AsString;
            switch (name)
            {
                case "strip": return Str(Strip(s, Arg(a, k, 0, "chars"), true, true));
                case "lstrip": return Str(Strip(s, Arg(a, k, 0, "chars"), true, false));
                case "rstrip": return Str(Strip(s, Arg(a, k, 0, "chars"), false, true));
                case "startswith": return TemplateValue.FromBool(Affixes(Arg(a, k, 0, "prefix"), name).Any(p => s.StartsWith(p, StringComparison.Ordinal)));
                case "endswith": return TemplateValue.FromBool(Affixes(Arg(a, k, 0, "suffix"), name).Any(p => s.EndsWith(p, StringComparison.Ordinal)));
                case "split": return Split(s, Arg(a, k, 0, "sep"), Arg(a, k, 1, "maxsplit"), false);
                case "rsplit": return Split(s, Arg(a, k, 0, "sep"), Arg(a, k, 1, "maxsplit"), true);
                case "splitlines": return TemplateValue.FromList(s.Split('\n').Select(x => Str(x.TrimEnd('\r'))).SkipLast(s.EndsWith('\n') ? 1 : 0).ToList());
                case "replace": return Str(Replace(s, AsStr(Arg(a, k, 0, "old"), name), AsStr(Arg(a, k, 1, "new"), name), Arg(a, k, 2, "count")));
                case "upper": return Str(s.ToUpperInvariant());
                case "lower": return Str(s.ToLowerInvariant());
                case "title": return Str(Title(s));
                case "capitalize": return Str(Capitalize(s));
                case "find": return TemplateValue.FromInt(s.IndexOf(AsStr(Arg(a, k, 0, "sub"), name), StringComparison.Ordinal));
                case "rfind": return TemplateValue.FromInt(s.LastIndexOf(AsStr(Arg(a, k, 0, "sub"), name), StringComparison.Ordinal));
                case "count":
                {
                    string sub = AsStr(Arg(a, k, 0, "sub"), name);
                    return TemplateValue.FromInt(sub.Length == 0 ? s.Length + 1 : (s.Length - s.Replace(sub, "", StringComparison.Ordinal).Length) / sub.Length);
                }
                case "join": return Str(string.Join(s, Iterate(Arg(a, k, 0, "iterable")).Select(x => AsStr(x, name))));
                case "isdigit": return TemplateValue.FromBool(s.Length > 0 && s.All(char.IsDigit));
                case "isalpha": return TemplateValue.FromBool(s.Length > 0 && s.All(char.IsLetter));
                case "isspace": return TemplateValue.FromBool(s.Length > 0 && s.All(char.IsWhiteSpace));
            }
        }
        else if (target.Kind == TemplateKind.Dict && !target.IsNamespace)
        {
            var d = target.AsDict;
            switch (name)
            {
                case "get":
                {
                    TemplateValue key = Arg(a, k, 0, "key"), def = Arg(a, k, 1, "default");
                    return key.Kind == TemplateKind.String && d.TryGetValue(key.AsString, out TemplateValue? v) ? v : def.IsUndefined ? TemplateValue.None : def;
                }
                case "items": return Items(target);
                case "keys": return TemplateValue.FromList(d.Keys.Select(Str).ToList());
                case "values": return TemplateValue.FromList(d.Values.ToList());
            }
        }
        else if (target.Kind == TemplateKind.List)
        {
            var l = target.AsList;
            switch (name)
            {
                case "index":
                {
                    TemplateValue x = Arg(a, k, 0, "value");
                    int i = l.FindIndex(y => TemplateValue.PyEquals(x, y));
                    return i >= 0 ? TemplateValue.FromInt(i) : throw new TemplateError($"{x.Repr()} is not in list");
                }
                case "count": return TemplateValue.FromInt(l.Count(y => TemplateValue.PyEquals(Arg(a, k, 0, "value"), y)));
            }
        }
        if (target.IsUndefined) throw new TemplateError($"'{target.UndefinedName}' is undefined");
        throw new TemplateError($"unsupported method '{name}' on {target.TypeName}");
    }

    /// <summary>Whether <c>value.name</c> names a method (Jinja's getattr finds methods before dict keys).</summary>
    public static bool IsMethod(TemplateValue target, string name) => target.Kind switch
    {
        TemplateKind.String => name is "strip" or "lstrip" or "rstrip" or "startswith" or "endswith" or "split" or "rsplit" or "splitlines"
            or "replace" or "upper" or "lower" or "title" or "capitalize" or "find" or "rfind" or "count" or "join" or "isdigit" or "isalpha" or "isspace",
        TemplateKind.Dict => !target.IsNamespace && name is "get" or "items" or "keys" or "values",
        TemplateKind.List => name is "index" or "count",
        _ => false,
    };

    /// <summary><c>value.name</c>: a dict key, else undefined; methods are handled by the caller.</summary>
    public static TemplateValue GetAttribute(TemplateValue target, string name)
    {
        if (target.Kind == TemplateKind.Dict)
            return target.AsDict.TryGetValue(name, out TemplateValue? v) ? v : TemplateValue.Undefined(name);
        if (target.IsUndefined) throw new TemplateError($"'{target.UndefinedName}' is undefined (reading its attribute '{name}')");
        if (target.IsNone) throw new TemplateError($"'None' has no attribute '{name}'");
        return TemplateValue.Undefined(name);
    }

    /// <summary><c>value[key]</c> with Python's negative indices; a missing key or index is undefined.</summary>
    public static TemplateValue GetItem(TemplateValue target, TemplateValue key)
    {
        switch (target.Kind)
        {
            case TemplateKind.Dict:
                return key.Kind == TemplateKind.String && target.AsDict.TryGetValue(key.AsString, out TemplateValue? v) ? v : TemplateValue.Undefined(key.ToString());
            case TemplateKind.List when key.Kind is TemplateKind.Int or TemplateKind.Bool:
            {
                var l = target.AsList;
                long i = key.AsInt < 0 ? key.AsInt + l.Count : key.AsInt;
                return i >= 0 && i < l.Count ? l[(int)i] : TemplateValue.Undefined($"[{key.AsInt}]");
            }
            case TemplateKind.String when key.Kind is TemplateKind.Int or TemplateKind.Bool:
            {
                string s = target.AsString;
                long i = key.AsInt < 0 ? key.AsInt + s.Length : key.AsInt;
                return i >= 0 && i < s.Length ? Str(s[(int)i].ToString()) : TemplateValue.Undefined($"[{key.AsInt}]");
            }
            case TemplateKind.Undefined:
                throw new TemplateError($"'{target.UndefinedName}' is undefined (reading its item {key.Repr()})");
            case TemplateKind.None:
                throw new TemplateError($"'None' is not subscriptable");
            default:
                return key.Kind == TemplateKind.String ? GetAttribute(target, key.AsString) : TemplateValue.Undefined(key.Repr());
        }
    }

    /// <summary>Python's iteration: list items, dict keys, string characters; undefined is empty.</summary>
    public static IEnumerable<TemplateValue> Iterate(TemplateValue v) => v.Kind switch
    {
        TemplateKind.List => v.AsList,
        TemplateKind.Dict => v.AsDict.Keys.Select(Str),
        TemplateKind.String => v.AsString.Select(c => Str(c.ToString())),
        TemplateKind.Undefined => [],
        _ => throw new TemplateError($"'{v.TypeName}' object is not iterable"),
    };

    public static TemplateValue Items(TemplateValue v)
    {
        if (v.Kind != TemplateKind.Dict) throw new TemplateError($"items() needs a mapping, got {v.TypeName}");
        return TemplateValue.FromList(v.AsDict.Select(p => TemplateValue.FromList([Str(p.Key), p.Value])).ToList());
    }

    /// <summary>Python ordering of numbers and strings (other types do not compare).</summary>
    public static int Compare(TemplateValue a, TemplateValue b)
    {
        if (a.IsNumber && b.IsNumber) return a.AsFloat.CompareTo(b.AsFloat);
        if (a.Kind == TemplateKind.String && b.Kind == TemplateKind.String) return string.CompareOrdinal(a.AsString, b.AsString);
        throw new TemplateError($"'<' not supported between instances of '{a.TypeName}' and '{b.TypeName}'");
    }

    private static TemplateValue Str(string s) => TemplateValue.FromString(s);

    private static TemplateValue Arg(List<TemplateValue> args, int index) => index < args.Count ? args[index] : TemplateValue.Undefined($"argument {index + 1}");

    private static TemplateValue Arg(List<TemplateValue> args, Dictionary<string, TemplateValue> kwargs, int index, string name) =>
        index < args.Count ? args[index] : kwargs.TryGetValue(name, out TemplateValue? v) ? v : TemplateValue.Undefined(name);

    private static string AsStr(TemplateValue v, string where) =>
        v.Kind == TemplateKind.String ? v.AsString
        : v.IsUndefined ? throw new TemplateError($"'{v.UndefinedName}' is undefined (in '{where}')")
        : throw new TemplateError($"'{where}' needs a string, got {v.TypeName}");

    private static TemplateValue Num(TemplateValue v, string where) =>
        v.IsNumber ? v : throw new TemplateError($"'{where}' needs a number, got {v.TypeName}");

    private static int Length(TemplateValue v) => v.Kind switch
    {
        TemplateKind.String => v.AsString.Length,
        TemplateKind.List => v.AsList.Count,
        TemplateKind.Dict => v.AsDict.Count,
        TemplateKind.Undefined => 0,
        _ => throw new TemplateError($"object of type '{v.TypeName}' has no len()"),
    };

    private static string Strip(string s, TemplateValue chars, bool left, bool right)
    {
        if (chars.IsUndefined || chars.IsNone) return left && right ? s.Trim() : left ? s.TrimStart() : s.TrimEnd();
        char[] set = AsStr(chars, "strip").ToCharArray();
        return left && right ? s.Trim(set) : left ? s.TrimStart(set) : s.TrimEnd(set);
    }

    private static IEnumerable<string> Affixes(TemplateValue v, string where) =>
        v.Kind == TemplateKind.List ? v.AsList.Select(x => AsStr(x, where)) : [AsStr(v, where)];

    private static string Replace(string s, string old, string replacement, TemplateValue count)
    {
        if (count.IsUndefined || count.IsNone || count.AsInt < 0) return old.Length == 0 ? InsertEverywhere(s, replacement) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int pos = 0;
        for (long n = count.AsInt; n > 0 && old.Length > 0; n--)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0) break;
            sb.Append(s, pos, i - pos).Append(replacement);
            pos = i + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static string InsertEverywhere(string s, string r)
    {
        var sb = new StringBuilder(r);
        foreach (char c in s) sb.Append(c).Append(r);
        return sb.ToString();
    }

    private static TemplateValue Split(string s, TemplateValue sep, TemplateValue maxSplit, bool fromRight)
    {
        int max = maxSplit.IsUndefined || maxSplit.IsNone ? -1 : (int)maxSplit.AsInt;
        List<string> parts;
        if (sep.IsUndefined || sep.IsNone)
        {
            parts = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToList();
            if (max >= 0 && parts.Count > max + 1)
            {
                // Python keeps the rest of the string (from the (max+1)-th word) as the last part.
                if (fromRight) throw new TemplateError("rsplit() with maxsplit and no separator is not supported");
                string rest = s.TrimStart();
                for (int i = 0; i < max; i++)
                {
                    rest = rest[parts[i].Length..].TrimStart();
                }
                parts = [.. parts.Take(max), rest];
            }
        }
        else
        {
            string separator = AsStr(sep, "split");
            if (separator.Length == 0) throw new TemplateError("empty separator");
            parts = s.Split(separator).ToList();
            if (max >= 0 && parts.Count > max + 1)
            {
                parts = fromRight
                    ? [string.Join(separator, parts.Take(parts.Count - max)), .. parts.Skip(parts.Count - max)]
                    : [.. parts.Take(max), string.Join(separator, parts.Skip(max))];
            }
        }
        return TemplateValue.FromList(parts.Select(Str).ToList());
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousLetter = false;
        foreach (char c in s)
        {
            sb.Append(previousLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    private static string Escape(string s) =>
        s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
         .Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);

    private static TemplateValue Default(TemplateValue v, List<TemplateValue> a, Dictionary<string, TemplateValue> k)
    {
        TemplateValue fallback = Arg(a, k, 0, "default_value");
        if (fallback.IsUndefined) fallback = TemplateValue.EmptyString;
        bool boolean = Arg(a, k, 1, "boolean").IsTruthy;
        return v.IsUndefined || (boolean && !v.IsTruthy) ? fallback : v;
    }

    private static TemplateValue GetItemOrAttribute(TemplateValue item, TemplateValue attribute)
    {
        TemplateValue result = item;
        foreach (string part in attribute.ToString().Split('.'))
            result = int.TryParse(part, out int i) && result.Kind == TemplateKind.List ? GetItem(result, TemplateValue.FromInt(i)) : GetItem(result, Str(part));
        return result;
    }

    private static TemplateValue SelectAttr(TemplateValue v, List<TemplateValue> a, bool keep)
    {
        if (a.Count == 0) throw new TemplateError("selectattr/rejectattr need an attribute name");
        string? test = a.Count > 1 ? AsStr(a[1], "selectattr") : null;
        var testArgs = a.Skip(2).ToList();
        return TemplateValue.FromList(Iterate(v).Where(x =>
        {
            TemplateValue attr = GetItemOrAttribute(x, a[0]);
            return (test == null ? attr.IsTruthy : ApplyTest(test, attr, testArgs)) == keep;
        }).ToList());
    }

    private static TemplateValue Select(TemplateValue v, List<TemplateValue> a, bool keep)
    {
        string? test = a.Count > 0 ? AsStr(a[0], "select") : null;
        var testArgs = a.Skip(1).ToList();
        return TemplateValue.FromList(Iterate(v).Where(x => (test == null ? x.IsTruthy : ApplyTest(test, x, testArgs)) == keep).ToList());
    }

    private static TemplateValue Map(TemplateValue v, List<TemplateValue> a, Dictionary<string, TemplateValue> k)
    {
        if (k.TryGetValue("attribute", out TemplateValue? attribute))
        {
            k.TryGetValue("default", out TemplateValue? def);
            return TemplateValue.FromList(Iterate(v).Select(x =>
            {
                TemplateValue r = GetItemOrAttribute(x, attribute);
                return r.IsUndefined && def != null ? def : r;
            }).ToList());
        }
        if (a.Count == 0) throw new TemplateError("map needs a filter name or attribute=");
        string filter = AsStr(a[0], "map");
        var rest = a.Skip(1).ToList();
        return TemplateValue.FromList(Iterate(v).Select(x => ApplyFilter(filter, x, rest, k)).ToList());
    }

    private static TemplateValue ToInt(TemplateValue v, TemplateValue def)
    {
        if (v.Kind == TemplateKind.Float) return TemplateValue.FromInt((long)Math.Truncate(v.AsFloat));
        if (v.IsNumber) return TemplateValue.FromInt(v.AsInt);
        if (v.Kind == TemplateKind.String && long.TryParse(v.AsString.Trim(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long i))
            return TemplateValue.FromInt(i);
        return def.IsUndefined ? TemplateValue.FromInt(0) : def;
    }

    private static TemplateValue ToFloat(TemplateValue v, TemplateValue def)
    {
        if (v.IsNumber) return TemplateValue.FromFloat(v.AsFloat);
        if (v.Kind == TemplateKind.String && double.TryParse(v.AsString.Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d))
            return TemplateValue.FromFloat(d);
        return def.IsUndefined ? TemplateValue.FromFloat(0) : def;
    }

    private static TemplateValue Indent(TemplateValue v, List<TemplateValue> a, Dictionary<string, TemplateValue> k)
    {
        TemplateValue width = Arg(a, k, 0, "width"), first = Arg(a, k, 1, "first"), blank = Arg(a, k, 2, "blank");
        string pad = width.Kind == TemplateKind.String ? width.AsString : new string(' ', width.IsUndefined ? 4 : (int)width.AsInt);
        string[] lines = AsStr(v, "indent").Split('\n');
        var sb = new StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            if (i > 0) sb.Append('\n');
            bool indentThis = (i > 0 || first.IsTruthy) && (blank.IsTruthy || lines[i].Length > 0);
            if (indentThis) sb.Append(pad);
            sb.Append(lines[i]);
        }
        return Str(sb.ToString());
    }
}
