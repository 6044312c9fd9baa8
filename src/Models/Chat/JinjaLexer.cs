using System.Globalization;
using System.Text;

namespace SpecCore.Models.Chat;

/// <summary>The token kinds of the Jinja subset.</summary>
internal enum JinjaTokenKind { Text, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Operator, End }

/// <summary>One token with the 1-based line it starts on.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Line)
{
    public override string ToString() => $"{Kind}({Value})@{Line}";
}

/// <summary>
/// Splits a template into text and tag tokens, applying whitespace control as Hugging Face configures
/// Jinja: <c>trim_blocks</c> (the first newline after a block or comment tag is dropped) and
/// <c>lstrip_blocks</c> (spaces and tabs before a block or comment tag at the start of a line are dropped),
/// plus the per-tag <c>-</c> (strip all whitespace on that side) and <c>+</c> (keep it) markers.
/// Comments <c>{# #}</c> produce no tokens.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] s_operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    public static List<JinjaToken> Tokenize(string source, bool trimBlocks = true, bool lstripBlocks = true)
    {
        var tokens = new List<JinjaToken>();
        int pos = 0, line = 1;
        bool stripNextText = false; // the previous tag ended with '-'
        while (pos <= source.Length)
        {
            int tag = FindTagStart(source, pos);
            string text = source[pos..(tag < 0 ? source.Length : tag)];
            int textLine = line;
            line += Count(text, '\n');
            if (stripNextText) text = text.TrimStart();
            stripNextText = false;
            if (tag < 0)
            {
                if (text.Length > 0) tokens.Add(new(JinjaTokenKind.Text, text, textLine));
                break;
            }
            char type = source[tag + 1];
            char marker = tag + 2 < source.Length ? source[tag + 2] : '\0';
            if (marker == '-') text = text.TrimEnd();
            else if (lstripBlocks && marker != '+' && type != '{') text = LstripTag(text, pos == 0 || source[pos - 1] == '\n');
            if (text.Length > 0) tokens.Add(new(JinjaTokenKind.Text, text, textLine));
            pos = tag + 2 + (marker is '-' or '+' ? 1 : 0);
            int tagLine = line;
            if (type == '#')
            {
                int close = source.IndexOf("#}", pos, StringComparison.Ordinal);
                if (close < 0) throw ChatTemplateErrors.At(tagLine, "unclosed comment");
                line += Count(source.AsSpan(pos, close - pos), '\n');
                bool strip = close > pos && source[close - 1] == '-';
                bool keep = close > pos && source[close - 1] == '+';
                pos = close + 2;
                if (strip) stripNextText = true;
                else if (trimBlocks && !keep) pos = SkipNewline(source, pos, ref line);
                continue;
            }
            bool block = type == '%';
            tokens.Add(new(block ? JinjaTokenKind.BlockBegin : JinjaTokenKind.VariableBegin, block ? "{%" : "{{", tagLine));
            string closer = block ? "%}" : "}}";
            int depth = 0; // open brackets: '}}' inside a dict literal does not close the tag, as in Jinja
            while (true)
            {
                while (pos < source.Length && char.IsWhiteSpace(source[pos]))
                {
                    if (source[pos] == '\n') line++;
                    pos++;
                }
                if (pos >= source.Length) throw ChatTemplateErrors.At(tagLine, $"unclosed '{(block ? "{%" : "{{")}'");
                bool strip = false, keep = false;
                if ((source[pos] == '-' || source[pos] == '+') && string.CompareOrdinal(source, pos + 1, closer, 0, 2) == 0)
                {
                    strip = source[pos] == '-';
                    keep = source[pos] == '+';
                    pos++;
                }
                if (depth == 0 && string.CompareOrdinal(source, pos, closer, 0, 2) == 0)
                {
                    tokens.Add(new(block ? JinjaTokenKind.BlockEnd : JinjaTokenKind.VariableEnd, closer, line));
                    pos += 2;
                    if (strip) stripNextText = true;
                    else if (block && trimBlocks && !keep) pos = SkipNewline(source, pos, ref line);
                    break;
                }
                JinjaToken token = ReadToken(source, ref pos, ref line);
                if (token.Kind == JinjaTokenKind.Operator)
                {
                    if (token.Value is "(" or "[" or "{") depth++;
                    else if (token.Value is ")" or "]" or "}" && depth > 0) depth--;
                }
                tokens.Add(token);
            }
            if (block && IsRawStart(tokens)) pos = ReadRaw(source, pos, ref line, tokens, trimBlocks, ref stripNextText);
        }
        tokens.Add(new(JinjaTokenKind.End, "", line));
        return tokens;
    }

    private static int FindTagStart(string s, int from)
    {
        for (int i = from; i < s.Length - 1; i++)
            if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) return i;
        return -1;
    }

    /// <summary>lstrip_blocks: drop spaces and tabs between the last line start and the tag.</summary>
    private static string LstripTag(string text, bool textStartsLine)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !textStartsLine) return text;
        for (int i = lineStart; i < text.Length; i++)
            if (text[i] != ' ' && text[i] != '\t') return text;
        return text[..lineStart];
    }

    private static int SkipNewline(string s, int pos, ref int line)
    {
        if (pos < s.Length && s[pos] == '\n') { line++; return pos + 1; }
        if (pos + 1 < s.Length && s[pos] == '\r' && s[pos + 1] == '\n') { line++; return pos + 2; }
        return pos;
    }

    private static bool IsRawStart(List<JinjaToken> t) =>
        t.Count >= 3 && t[^1].Kind == JinjaTokenKind.BlockEnd && t[^2].Kind == JinjaTokenKind.Name && t[^2].Value == "raw"
        && t[^3].Kind == JinjaTokenKind.BlockBegin;

    /// <summary>A <c>{% raw %}</c> block: its body is text up to <c>{% endraw %}</c>.</summary>
    private static int ReadRaw(string s, int pos, ref int line, List<JinjaToken> tokens, bool trimBlocks, ref bool stripNextText)
    {
        int rawLine = tokens[^1].Line;
        tokens.RemoveRange(tokens.Count - 3, 3);
        for (int i = pos; i < s.Length - 1; i++)
        {
            if (s[i] != '{' || s[i + 1] != '%') continue;
            int j = i + 2;
            bool stripBefore = j < s.Length && s[j] == '-';
            if (stripBefore || (j < s.Length && s[j] == '+')) j++;
            while (j < s.Length && char.IsWhiteSpace(s[j])) j++;
            if (string.CompareOrdinal(s, j, "endraw", 0, 6) != 0) continue;
            j += 6;
            while (j < s.Length && char.IsWhiteSpace(s[j])) j++;
            bool stripAfter = j < s.Length && s[j] == '-';
            if (stripAfter) j++;
            if (string.CompareOrdinal(s, j, "%}", 0, 2) != 0) continue;
            string body = s[pos..i];
            if (stripNextText) body = body.TrimStart();
            if (stripBefore) body = body.TrimEnd();
            stripNextText = stripAfter;
            if (body.Length > 0) tokens.Add(new(JinjaTokenKind.Text, body, line));
            line += Count(s.AsSpan(pos, j + 2 - pos), '\n');
            int end = j + 2;
            return !stripAfter && trimBlocks ? SkipNewline(s, end, ref line) : end;
        }
        throw ChatTemplateErrors.At(rawLine, "'raw' block without 'endraw'");
    }

    private static JinjaToken ReadToken(string s, ref int pos, ref int line)
    {
        char c = s[pos];
        int start = pos;
        if (char.IsLetter(c) || c == '_')
        {
            while (pos < s.Length && (char.IsLetterOrDigit(s[pos]) || s[pos] == '_')) pos++;
            return new(JinjaTokenKind.Name, s[start..pos], line);
        }
        if (char.IsAsciiDigit(c))
        {
            while (pos < s.Length && (char.IsAsciiDigit(s[pos]) || s[pos] == '_')) pos++;
            bool isFloat = false;
            if (pos + 1 < s.Length && s[pos] == '.' && char.IsAsciiDigit(s[pos + 1]))
            {
                isFloat = true;
                pos++;
                while (pos < s.Length && char.IsAsciiDigit(s[pos])) pos++;
            }
            if (pos < s.Length && (s[pos] == 'e' || s[pos] == 'E'))
            {
                int p = pos + 1;
                if (p < s.Length && (s[p] == '+' || s[p] == '-')) p++;
                if (p < s.Length && char.IsAsciiDigit(s[p]))
                {
                    isFloat = true;
                    pos = p;
                    while (pos < s.Length && char.IsAsciiDigit(s[pos])) pos++;
                }
            }
            string num = s[start..pos].Replace("_", "", StringComparison.Ordinal);
            return new(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Int, num, line);
        }
        if (c == '\'' || c == '"')
        {
            int tokenLine = line;
            var sb = new StringBuilder();
            pos++;
            while (true)
            {
                if (pos >= s.Length) throw ChatTemplateErrors.At(tokenLine, "unterminated string literal");
                char ch = s[pos++];
                if (ch == c) break;
                if (ch == '\n') line++;
                if (ch != '\\' || pos >= s.Length) { sb.Append(ch); continue; }
                char esc = s[pos++];
                switch (esc)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '0': sb.Append('\0'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case '\n': line++; break;
                    case 'x' when pos + 2 <= s.Length:
                        sb.Append((char)int.Parse(s.AsSpan(pos, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += 2;
                        break;
                    case 'u' when pos + 4 <= s.Length:
                        sb.Append((char)int.Parse(s.AsSpan(pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += 4;
                        break;
                    default: sb.Append('\\').Append(esc); break; // Python keeps unknown escapes
                }
            }
            return new(JinjaTokenKind.String, sb.ToString(), tokenLine);
        }
        foreach (string op in s_operators)
        {
            if (string.CompareOrdinal(s, pos, op, 0, op.Length) == 0)
            {
                pos += op.Length;
                return new(JinjaTokenKind.Operator, op, line);
            }
        }
        throw ChatTemplateErrors.At(line, $"unexpected character '{c}'");
    }

    private static int Count(ReadOnlySpan<char> s, char c)
    {
        int n = 0;
        foreach (char x in s) if (x == c) n++;
        return n;
    }
}
