using System.Text.Json;
using SpecCore.Models.Chat;

namespace SpecCore.Tests.Chat;

/// <summary>
/// Chat templates against references: the <c>chat</c> cases of the shared Llama 3 and Qwen3 tokenizer
/// references (rendered by Hugging Face), and the published templates of SmolLM2, Mistral v0.1 and
/// TinyLlama with the outputs their model cards show (cross-checked with Python's jinja2 configured as
/// transformers configures it).
/// </summary>
public sealed class ChatTemplateTests
{
    // HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json chat_template.
    private const string SmolLm2Template =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    // mistralai/Mistral-7B-Instruct-v0.1 tokenizer_config.json chat_template.
    private const string MistralTemplate =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    // TinyLlama/TinyLlama-1.1B-Chat-v1.0 tokenizer_config.json chat_template (Zephyr style; relies on trim_blocks).
    private const string TinyLlamaTemplate =
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    private static readonly ChatMessage[] s_conversation = [new("user", "Hello"), new("assistant", "Hi"), new("user", "How are you?")];

    private static readonly ChatMessage[] s_pirate =
    [
        new("system", "You are a friendly chatbot who always responds in the style of a pirate."),
        new("user", "How many helicopters can a human eat in one sitting?"),
    ];

    public static TheoryData<string, int> ReferenceCases()
    {
        var data = new TheoryData<string, int>();
        foreach (string model in (string[])["llama3-tokenizer", "qwen3-tokenizer"])
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.tokenizer.json")));
            int n = doc.RootElement.GetProperty("chat").GetArrayLength();
            for (int i = 0; i < n; i++) data.Add(model, i);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void ReferenceChatRendersExactly(string model, int index)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(TestModels.Path($"reference/{model}.tokenizer.json")));
        JsonElement c = doc.RootElement.GetProperty("chat")[index];
        var messages = c.GetProperty("messages").EnumerateArray()
            .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString())).ToList();
        var extra = new Dictionary<string, JsonElement>();
        foreach (JsonProperty p in c.EnumerateObject())
            if (p.Name is not ("messages" or "add_generation_prompt" or "rendered")) extra[p.Name] = p.Value.Clone();
        var template = ChatTemplate.Load(TestModels.Path(model));
        string rendered = template.Render(messages, c.GetProperty("add_generation_prompt").GetBoolean(), new ChatTemplateOptions { Variables = extra });
        Assert.Equal(c.GetProperty("rendered").GetString(), rendered);
    }

    [Fact]
    public void ModelFoldersWithTemplatesLoad()
    {
        var qwen = ChatTemplate.Load(TestModels.Path("tiny-qwen3"));
        Assert.Equal("<|im_end|>", qwen.SpecialTokens["eos_token"]);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", qwen.Render([new("user", "Hi")], true));
        var llama = ChatTemplate.Load(TestModels.Path("llama3-tokenizer"));
        Assert.Equal("<|begin_of_text|>", llama.SpecialTokens["bos_token"]);
    }

    [Fact]
    public void ReferenceFilesHaveChatCases()
    {
        Assert.True(ReferenceCases().Count >= 4);
    }

    [Fact]
    public void SmolLm2AddsItsDefaultSystemPrompt()
    {
        var t = ChatTemplate.Parse(SmolLm2Template);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            + "<|im_start|>assistant\nHi<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n",
            t.Render(s_conversation, addGenerationPrompt: true));
        Assert.Equal(
            "<|im_start|>system\nYou are a friendly chatbot who always responds in the style of a pirate.<|im_end|>\n"
            + "<|im_start|>user\nHow many helicopters can a human eat in one sitting?<|im_end|>\n",
            t.Render(s_pirate, addGenerationPrompt: false));
    }

    [Fact]
    public void MistralInstFormat()
    {
        var t = ChatTemplate.Parse(MistralTemplate, "<s>", "</s>");
        Assert.Equal("<s>[INST] Hello [/INST]Hi</s>[INST] How are you? [/INST]", t.Render(s_conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void MistralRefusesRolesThatDoNotAlternate()
    {
        var t = ChatTemplate.Parse(MistralTemplate, "<s>", "</s>");
        var e = Assert.Throws<InvalidDataException>(() => t.Render([new("user", "a"), new("user", "b")], false));
        Assert.Equal("chat template line 1: Conversation roles must alternate user/assistant/user/assistant/...", e.Message);
        Assert.Equal(true, e.Data[ChatTemplate.RaisedByTemplateKey]);
        var system = Assert.Throws<InvalidDataException>(() => t.Render(s_pirate, false));
        Assert.Contains("Conversation roles must alternate", system.Message);
    }

    [Fact]
    public void TinyLlamaZephyrFormat()
    {
        var t = ChatTemplate.Parse(TinyLlamaTemplate, "<s>", "</s>");
        Assert.Equal(
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate.</s>\n"
            + "<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n",
            t.Render(s_pirate, addGenerationPrompt: true));
        Assert.Equal("<|user|>\nHello</s>\n<|assistant|>\nHi</s>\n<|user|>\nHow are you?</s>\n", t.Render(s_conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Qwen3ToolsToolCallsAndThinkingOff()
    {
        var t = ChatTemplate.Load(TestModels.Path("qwen3-tokenizer"));
        using JsonDocument tools = JsonDocument.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather — in °C",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
            """);
        using JsonDocument calls = JsonDocument.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "metric": true, "ratio": 0.5}}}]
            """);
        ChatMessage[] messages =
        [
            new("system", "You are helpful."),
            new("user", "Weather in Paris?"),
            new("assistant", "") { ReasoningContent = "Need the tool.", ToolCalls = calls.RootElement },
            new("tool", "{\"temp\": 21}"),
            new("tool", "second"),
            new("assistant", "<think>\nIt is mild.\n</think>\n\nIt is 21 °C."),
            new("user", "Thanks"),
        ];
        string expected =
            "<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather — in °C\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
            + "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
            + "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2, \"metric\": true, \"ratio\": 0.5}}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response>\n<tool_response>\nsecond\n</tool_response><|im_end|>\n"
            + "<|im_start|>assistant\nIt is 21 °C.<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
        Assert.Equal(expected, t.Render(messages, true, new ChatTemplateOptions { Tools = tools.RootElement, EnableThinking = false }));
    }

    [Fact]
    public void Qwen3ThinkingBranches()
    {
        var t = ChatTemplate.Load(TestModels.Path("qwen3-tokenizer"));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
            t.Render([new("user", "Hi")], true, new ChatTemplateOptions { EnableThinking = false }));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            t.Render([new("user", "Hi")], true, new ChatTemplateOptions { EnableThinking = true }));
        // The last assistant turn after the last user query keeps its reasoning, split out of the content.
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello!<|im_end|>\n",
            t.Render([new("user", "Hi"), new("assistant", "<think>\nhmm\n</think>\n\nHello!")], false));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nHello!<|im_end|>\n",
            t.Render([new("user", "Hi"), new("assistant", "Hello!") { ReasoningContent = "r" }], false));
    }

    [Fact]
    public void UnknownFilterNamesTheLine()
    {
        var e = Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("a\n\n{{ x | trim }}\n{{ x | foo }}"));
        Assert.Equal("chat template line 4: unsupported filter 'foo'", e.Message);
        Assert.Equal(4, e.Data[ChatTemplate.LineKey]);
    }

    [Fact]
    public void UnknownTagAndTestNameTheLine()
    {
        Assert.Equal("chat template line 2: unsupported tag 'include'",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("x\n{% include 'other' %}")).Message);
        Assert.Equal("chat template line 1: unsupported test 'prime'",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("{% if 3 is prime %}{% endif %}")).Message);
        Assert.Equal("chat template line 1: 'if' without 'endif'",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("{% if true %}\nx")).Message);
        Assert.Equal("chat template line 3: unsupported function 'cycler'",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("\n\n{{ cycler(1) }}").Render([], false)).Message);
    }

    [Fact]
    public void LoadNamesTheFileAndPicksTheDefaultTemplate()
    {
        string dir = Directory.CreateTempSubdirectory("speccore-chat").FullName;
        try
        {
            string config = Path.Combine(dir, "tokenizer_config.json");
            File.WriteAllText(config, """{"chat_template": "line one\n{{ messages | bogus }}", "bos_token": "<s>"}""");
            var e = Assert.Throws<InvalidDataException>(() => ChatTemplate.Load(dir));
            Assert.Equal($"{config}: chat template line 2: unsupported filter 'bogus'", e.Message);

            File.WriteAllText(config, """
                {"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "{{ bos_token }}{{ eos_token }}|{{ messages[0].content }}"}],
                 "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}
                """);
            Assert.Equal("<s></s>|hi", ChatTemplate.Load(dir).Render([new("user", "hi")], false));

            File.WriteAllText(config, """{"eos_token": "</s>"}""");
            File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), "{% for m in messages %}{{ m.content }}{{ eos_token }}\n{% endfor %}");
            Assert.Equal("a</s>\nb</s>\n", ChatTemplate.Load(dir).Render([new("user", "a"), new("assistant", "b")], false));
            File.Delete(Path.Combine(dir, "chat_template.jinja"));
            Assert.Contains("no chat_template", Assert.Throws<InvalidDataException>(() => ChatTemplate.Load(dir)).Message);

            File.WriteAllText(config, """{"chat_template": "{{ raise_exception('no') }}"}""");
            var raised = Assert.Throws<InvalidDataException>(() => ChatTemplate.Load(dir).Render([], false));
            Assert.Equal($"{config}: chat template line 1: no", raised.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("a  {%- if true %} b {% endif -%}  c", "a b c")]
    [InlineData("a\n  {% if true %}\n  x\n  {%+ if true %}y{% endif %}\n{% endif %}z", "a\n  x\n  yz")]
    [InlineData("{{- ' a ' -}}  \n  {{ 'b' }}\n", " a b\n")]
    [InlineData("x {# comment #}\ny\n  {# own line #}\nz", "x y\nz")]
    [InlineData("{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}", "1\n2\n")]
    [InlineData("{% raw %}{{ not parsed }}{% endraw %}", "{{ not parsed }}")]
    [InlineData("{% if true +%}\nkept{% endif %}", "\nkept")]
    public void WhitespaceControl(string template, string expected)
    {
        Assert.Equal(expected, ChatTemplate.Parse(template).Render([], false));
    }

    [Fact]
    public void LexerTokensAndLines()
    {
        List<JinjaToken> tokens = JinjaLexer.Tokenize("hi\n{%- set x = 'a\\n' ~ 1.5 -%}\n {{ x|length }}");
        Assert.Equal(
            ["Text(hi)", "BlockBegin({%)", "Name(set)", "Name(x)", "Operator(=)", "String(a\n)", "Operator(~)", "Float(1.5)", "BlockEnd(%})",
             "VariableBegin({{)", "Name(x)", "Operator(|)", "Name(length)", "VariableEnd(}})", "End()"],
            tokens.Select(t => $"{t.Kind}({t.Value})"));
        Assert.Equal(2, tokens[1].Line);
        Assert.Equal(3, tokens[9].Line);
    }

    [Fact]
    public void ParserPrecedence()
    {
        var nodes = JinjaParser.Parse("{{ not a is defined and b or c ~ d + 1 if e else f | length - 1 }}");
        var output = Assert.IsType<OutputNode>(Assert.Single(nodes));
        var cond = Assert.IsType<ConditionalExpr>(output.Value);
        var or = Assert.IsType<BinaryExpr>(cond.Then);
        Assert.Equal("or", or.Op);
        var and = Assert.IsType<BinaryExpr>(or.Left);
        Assert.IsType<TestExpr>(Assert.IsType<UnaryExpr>(and.Left).Operand);
        Assert.Equal("+", Assert.IsType<BinaryExpr>(or.Right).Op); // + binds looser than ~ in Jinja
        var minus = Assert.IsType<BinaryExpr>(cond.Else);
        Assert.IsType<FilterExpr>(minus.Left);
    }

    [Theory]
    [InlineData("{{ [1, 2, 3][1:] }}|{{ [1, 2, 3][::-1] }}|{{ 'abc'[-1] }}|{{ 'hello'[1:-1] }}", "[2, 3]|[3, 2, 1]|c|ell")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 10 / 4 }} {{ 2 ** 3 }} {{ 1.0 }} {{ 1e20 }} {{ 0.0001 }} {{ 1e-05 }}", "3 -4 2 2.5 8 1.0 1e+20 0.0001 1e-05")]
    [InlineData("{{ none }} {{ true }} {{ [1, 'a', none] }} {{ {'k': 'it\\'s'} }} {{ undefined_name }}.", "None True [1, 'a', None] {'k': \"it's\"} .")]
    [InlineData("{{ {'a': [1, 2.5, true, none], 'b': 'é\"\\n'} | tojson }}", "{\"a\": [1, 2.5, true, null], \"b\": \"é\\\"\\n\"}")]
    [InlineData("{{ {'b': 1, 'a': {'c': []}} | tojson(indent=2, sort_keys=true) }}", "{\n  \"a\": {\n    \"c\": []\n  },\n  \"b\": 1\n}")]
    [InlineData("{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
        "013TrueFalse3;122FalseFalse3;231FalseTrue3;")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}{% for k, v in {'c': 3} | items %}{{ k }}{{ v }}{% endfor %}", "a=1,b=2,c3")]
    [InlineData("{% set ns = namespace(n=0) %}{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "3")]
    [InlineData("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", "1")]
    [InlineData("{% for i in range(4) if i is odd %}{{ i }}{% else %}none{% endfor %}{% for i in [] %}x{% else %}empty{% endfor %}", "13empty")]
    [InlineData("{% macro tag(name, v='d') %}<{{ name }}:{{ v }}>{% endmacro %}{{ tag('a') }}{{ tag('b', v='x') }}", "<a:d><b:x>")]
    [InlineData("{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}", "x|hi|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']")]
    [InlineData("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'abc'.upper() }}{{ 'ABC'.lower() }}{{ 'aXa'.replace('a', 'b') }}", "TrueTrueABCabcbXb")]
    [InlineData("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b') }}{{ {'a': 1}.get('b', 2) }}{{ 'k' in {'k': 1} }}{{ 'x' not in 'abc' }}{{ 2 in [1, 2] }}", "1None2TrueTrueTrue")]
    [InlineData("{{ x | default('d') }}{{ '' | default('e', true) }}{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ [1, 2] | join(', ') }}{{ 'ab' | upper }}{{ [3, 1] | length }}", "de13" + "1, 2AB2")]
    [InlineData("{{ [{'r': 'a', 'n': 1}, {'r': 'b', 'n': 2}, {'r': 'a', 'n': 3}] | selectattr('r', 'equalto', 'a') | map(attribute='n') | list }}", "[1, 3]")]
    [InlineData("{{ [{'r': 'a'}, {'r': 'b'}] | rejectattr('r', 'eq', 'a') | map(attribute='r') | join }}{{ [1, none, 2] | select('none') | list }}", "b[None]")]
    [InlineData("{{ 1 is number }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ [] is sequence }}{{ none is none }}{{ x is defined }}{{ false is false }}{{ true is true }}{{ 1 is true }}",
        "TrueTrueTrueTrueTrueTrueFalseTrueTrueFalse")]
    [InlineData("{{ 'a' ~ 1 ~ none }}{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 'ab' * 2 }}{{ 'y' if 1 > 2 else 'n' }}{{ 'z' if false }}", "a1Noneab[1, 2]ababn")]
    [InlineData("{% set s %}inner {{ 1 }}{% endset %}{{ s | trim }}|{{ 'a\\tb' | replace('\\t', ' ') }}|{{ 'hello world' | title }}|{{ ' x ' | trim | length }}", "inner 1|a b|Hello World|1")]
    public void Expressions(string template, string expected)
    {
        Assert.Equal(expected, ChatTemplate.Parse(template).Render([], false));
    }

    [Fact]
    public void StrftimeNowUsesTheInjectedDate()
    {
        var t = ChatTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M') }}|{{ strftime_now('%-d %B') }}");
        Assert.Equal("05 Mar 2026|2026-03-05 14:07|5 March",
            t.Render([], false, new ChatTemplateOptions { Now = new DateTime(2026, 3, 5, 14, 7, 0) }));
    }

    [Fact]
    public void MessageFieldsAndExtraVariables()
    {
        var t = ChatTemplate.Parse("{{ messages[0].content is none }}{{ messages[0].reasoning_content is defined }}{{ messages[1].reasoning_content }}"
                                   + "{{ tools is none }}{{ enable_thinking is defined }}{{ custom.k }}{{ messages[-1]['role'] }}");
        using JsonDocument custom = JsonDocument.Parse("""{"k": [1, 2]}""");
        Assert.Equal("TrueFalseRTrueFalse[1, 2]user",
            t.Render([new("assistant", null), new("user", "u") { ReasoningContent = "R" }], false,
                new ChatTemplateOptions { Variables = new Dictionary<string, JsonElement> { ["custom"] = custom.RootElement } }));
    }

    [Fact]
    public void RuntimeErrorsNameTheLine()
    {
        Assert.Equal("chat template line 2: unsupported method 'zfill' on str",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("\n{{ 'a'.zfill(3) }}").Render([], false)).Message);
        Assert.Equal("chat template line 1: unsupported operand type(s) for +: 'str' and 'int'",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("{{ 'a' + 1 }}").Render([], false)).Message);
        Assert.Equal("chat template line 1: cannot assign attribute 'x' on 'd': only a namespace() accepts attribute assignment",
            Assert.Throws<InvalidDataException>(() => ChatTemplate.Parse("{% set d = {} %}{% set d.x = 1 %}").Render([], false)).Message);
    }
}
