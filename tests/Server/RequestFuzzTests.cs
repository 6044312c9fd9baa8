using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SpecCore.Tests.Server;

/// <summary>Mutated request bodies (byte flips, truncations, values of the wrong type, huge and negative numbers,
/// duplicate keys, deep nesting, invalid UTF-8): each ends in a 200 with a well-formed answer or in a 4xx with an
/// OpenAI-style error, never a 5xx, and the server keeps answering correctly.</summary>
[Collection("server")]
public sealed class RequestFuzzTests(ServerFixture fx)
{
    private static readonly (string Path, string Body)[] Seeds =
    [
        ("/v1/completions", """{"model":"stories2M","prompt":"Once upon a time","max_tokens":4,"temperature":0,"stop":["\n"],"seed":3}"""),
        ("/v1/completions", """{"prompt":[1,403,2501],"max_tokens":3,"stream":true,"top_p":0.9}"""),
        ("/v1/chat/completions", """{"messages":[{"role":"system","content":"Be short."},{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0.5}"""),
        ("/v1/chat/completions", """{"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}],"max_completion_tokens":3,"stream":true,"stream_options":{"include_usage":true}}"""),
    ];

    private static readonly string[] Values = ["null", "true", "[]", "{}", "\"x\"", "\"\"", "-1", "0", "1e400", "99999999999999999999", "-0.0", "NaN", "[[[[[[]]]]]]", "\"\\ud800\""];

    [Fact]
    public async Task MutatedBodiesGetAnAnswerOrAClearErrorNeverAServerError()
    {
        var random = new Random(20261202);
        int cases = int.TryParse(Environment.GetEnvironmentVariable("SPECCORE_HTTP_FUZZ_CASES"), out int n) ? n : 300;
        var outcomes = new Dictionary<int, int>();
        for (int i = 0; i < cases; i++)
        {
            var (path, seed) = Seeds[random.Next(Seeds.Length)];
            byte[] body = Mutate(Encoding.UTF8.GetBytes(seed), random);
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using HttpResponseMessage r = await fx.Http.PostAsync(path, content);
            string text = await r.Content.ReadAsStringAsync();
            int status = (int)r.StatusCode;
            outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
            string shown = Encoding.UTF8.GetString(body);
            Assert.True(status == 200 || (status >= 400 && status < 500), $"case {i}: {status} for {shown}: {text}");
            if (status == 200 && r.Content.Headers.ContentType?.MediaType == "application/json")
                Assert.True(JsonDocument.Parse(text).RootElement.GetProperty("choices").GetArrayLength() == 1, $"case {i}: {shown}");
            else if (status == 200)
                Assert.EndsWith("data: [DONE]\n\n", text);
            else
                Assert.False(string.IsNullOrEmpty(JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("message").GetString()), $"case {i}: {text}");
        }
        Assert.True(outcomes.GetValueOrDefault(200) > 0 && outcomes.Keys.Any(k => k >= 400), "the mutations should give both answers and errors: " + string.Join(", ", outcomes));
        await fx.WaitIdle();
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        switch (random.Next(8))
        {
            case 0: // flip bits
                for (int k = random.Next(1, 4); k > 0; k--) { int at = random.Next(bytes.Count); bytes[at] ^= (byte)(1 << random.Next(8)); }
                break;
            case 1: // truncate
            {
                int cut = random.Next(bytes.Count);
                bytes.RemoveRange(cut, bytes.Count - cut);
            }
                break;
            case 2: // a value of another kind after a key
            {
                string text = Encoding.UTF8.GetString(seed);
                var colons = Enumerable.Range(0, text.Length).Where(j => text[j] == ':').ToArray();
                int at = colons[random.Next(colons.Length)] + 1;
                int end = at;
                int depth = 0;
                while (end < text.Length && (depth > 0 || (text[end] != ',' && text[end] != '}')))
                {
                    if (text[end] is '[' or '{') depth++;
                    else if (text[end] is ']' or '}') depth--;
                    end++;
                }
                return Encoding.UTF8.GetBytes(text[..at] + Values[random.Next(Values.Length)] + text[end..]);
            }
            case 3: // duplicate a key
            {
                string text = Encoding.UTF8.GetString(seed);
                return Encoding.UTF8.GetBytes(text.Insert(1, "\"max_tokens\":2,"));
            }
            case 4: // deep nesting
            {
                int depth = random.Next(10, 3000);
                return Encoding.UTF8.GetBytes("{\"prompt\":" + new string('[', depth) + new string(']', depth) + "}");
            }
            case 5: // invalid UTF-8 inside a string
            {
                string text = Encoding.UTF8.GetString(seed);
                int quote = text.IndexOf(":\"", StringComparison.Ordinal);
                var b = new List<byte>(Encoding.UTF8.GetBytes(text[..(quote + 2)]));
                b.AddRange(new byte[] { 0xC3, 0x28, 0xFF, 0xFE });
                b.AddRange(Encoding.UTF8.GetBytes(text[(quote + 2)..]));
                return b.ToArray();
            }
            case 6: // random bytes spliced in
                for (int k = random.Next(1, 6); k > 0; k--) bytes.Insert(random.Next(bytes.Count), (byte)random.Next(256));
                break;
            default: // a huge or negative number somewhere
            {
                string text = Encoding.UTF8.GetString(seed);
                string[] numbers = ["-2147483649", "2147483648", "1e308", "-1e308", "0.0000001", "4294967296"];
                int digit = text.IndexOfAny("0123456789".ToCharArray());
                int end = digit;
                while (end < text.Length && (char.IsDigit(text[end]) || text[end] == '.')) end++;
                return Encoding.UTF8.GetBytes(text[..digit] + numbers[random.Next(numbers.Length)] + text[end..]);
            }
        }
        return bytes.ToArray();
    }
}
