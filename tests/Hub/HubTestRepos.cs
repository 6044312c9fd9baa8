using System.Text;
using System.Text.Json;

namespace SpecCore.Tests.Hub;

/// <summary>Repo contents for the fake hub, made from the shared stories260K folder.</summary>
public static class HubTestRepos
{
    /// <summary>stories260K's files as a hub repo would hold them, plus a README the downloader must not fetch.</summary>
    public static Dictionary<string, byte[]> Stories260K()
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string name in new[] { "config.json", "generation_config.json", "tokenizer.model", "tokenizer_config.json", "model.safetensors" })
            files[name] = File.ReadAllBytes(TestModels.Path(Path.Combine("stories260K", name)));
        files["README.md"] = Encoding.UTF8.GetBytes("# not needed to run the model\n");
        return files;
    }

    /// <summary>The same model with its weights split into two shards and a model.safetensors.index.json.</summary>
    public static Dictionary<string, byte[]> Stories260KSharded()
    {
        Dictionary<string, byte[]> files = Stories260K();
        byte[] single = files["model.safetensors"];
        files.Remove("model.safetensors");
        long headerLength = BitConverter.ToInt64(single, 0);
        using JsonDocument header = JsonDocument.Parse(single.AsMemory(8, (int)headerLength));
        var tensors = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToList();
        var shards = new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
        var weightMap = new Dictionary<string, string>();
        for (int s = 0; s < 2; s++)
        {
            var mine = tensors.Where((_, i) => (i < tensors.Count / 2) == (s == 0)).ToList();
            var json = new StringBuilder("{");
            var data = new MemoryStream();
            foreach (JsonProperty t in mine)
            {
                long begin = t.Value.GetProperty("data_offsets")[0].GetInt64(), end = t.Value.GetProperty("data_offsets")[1].GetInt64();
                if (json.Length > 1) json.Append(',');
                json.Append($"\"{t.Name}\":{{\"dtype\":\"{t.Value.GetProperty("dtype").GetString()}\",\"shape\":{t.Value.GetProperty("shape").GetRawText()},\"data_offsets\":[{data.Length},{data.Length + end - begin}]}}");
                data.Write(single, (int)(8 + headerLength + begin), (int)(end - begin));
                weightMap[t.Name] = shards[s];
            }
            json.Append('}');
            while ((json.Length + 8) % 8 != 0) json.Append(' ');
            byte[] head = Encoding.UTF8.GetBytes(json.ToString());
            files[shards[s]] = [.. BitConverter.GetBytes((long)head.Length), .. head, .. data.ToArray()];
        }
        files["model.safetensors.index.json"] = JsonSerializer.SerializeToUtf8Bytes(
            new Dictionary<string, object> { ["metadata"] = new Dictionary<string, long> { ["total_size"] = single.Length }, ["weight_map"] = weightMap });
        return files;
    }
}
