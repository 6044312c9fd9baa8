using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SpecCore.Models.Chat;

/// <summary>
/// JSON in and out of template values without reflection: <see cref="FromJson"/> reads a
/// <see cref="JsonElement"/> (integers stay integers, as Python's json.loads keeps them), and
/// <see cref="ToJson"/> writes what Hugging Face's <c>tojson</c> filter writes: Python's
/// <c>json.dumps(x, ensure_ascii=False)</c>, separators <c>", "</c> and <c>": "</c> (<c>","</c> with an indent).
/// </summary>
internal static class TemplateJson
{
    public static TemplateValue FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null: return TemplateValue.None;
            case JsonValueKind.True: return TemplateValue.True;
            case JsonValueKind.False: return TemplateValue.False;
            case JsonValueKind.String: return TemplateValue.FromString(e.GetString()!);
            case JsonValueKind.Number:
                string raw = e.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i))
                    return TemplateValue.FromInt(i);
                return TemplateValue.FromFloat(e.GetDouble());
            case JsonValueKind.Array:
                var list = new List<TemplateValue>();
                foreach (JsonElement item in e.EnumerateArray()) list.Add(FromJson(item));
                return TemplateValue.FromList(list);
            case JsonValueKind.Object:
                var dict = new OrderedDictionary<string, TemplateValue>();
                foreach (JsonProperty p in e.EnumerateObject()) dict[p.Name] = FromJson(p.Value);
                return TemplateValue.FromDict(dict);
            default:
                throw new TemplateError($"unsupported JSON value kind {e.ValueKind}");
        }
    }

    /// <summary>Python's <c>json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sortKeys)</c>.</summary>
    public static string ToJson(TemplateValue value, int? indent = null, bool sortKeys = false, string? itemSeparator = null, string? keySeparator = null)
    {
        var sb = new StringBuilder();
        Write(sb, value, indent, sortKeys, itemSeparator ?? (indent == null ? ", " : ","), keySeparator ?? ": ", 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, TemplateValue v, int? indent, bool sortKeys, string itemSep, string keySep, int depth)
    {
        switch (v.Kind)
        {
            case TemplateKind.None: sb.Append("null"); break;
            case TemplateKind.Bool: sb.Append(v.AsBool ? "true" : "false"); break;
            case TemplateKind.Int: sb.Append(v.AsInt.ToString(CultureInfo.InvariantCulture)); break;
            case TemplateKind.Float:
                double d = v.AsFloat;
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : TemplateValue.FormatFloat(d));
                break;
            case TemplateKind.String: WriteString(sb, v.AsString); break;
            case TemplateKind.List:
                List<TemplateValue> list = v.AsList;
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    NewLine(sb, indent, depth + 1);
                    Write(sb, list[i], indent, sortKeys, itemSep, keySep, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append(']');
                break;
            case TemplateKind.Dict:
                OrderedDictionary<string, TemplateValue> dict = v.AsDict;
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<string, TemplateValue>> pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
                sb.Append('{');
                bool first = true;
                foreach (var (k, item) in pairs)
                {
                    if (!first) sb.Append(itemSep);
                    first = false;
                    NewLine(sb, indent, depth + 1);
                    WriteString(sb, k);
                    sb.Append(keySep);
                    Write(sb, item, indent, sortKeys, itemSep, keySep, depth + 1);
                }
                NewLine(sb, indent, depth);
                sb.Append('}');
                break;
            default:
                throw new TemplateError($"Object of type {v.TypeName} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, int? indent, int depth)
    {
        if (indent is int n) sb.Append('\n').Append(' ', n * depth);
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
