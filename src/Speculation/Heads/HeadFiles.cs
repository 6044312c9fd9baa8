namespace SpecCore.Speculation.Heads;

/// <summary>Where a head's files are: a folder holding one *.safetensors and config.json, or a <c>NAME.safetensors</c>
/// file with <c>NAME.config.json</c> (so several heads can share a folder, as under heads/) or else config.json beside it.</summary>
public static class HeadFiles
{
    /// <summary>The weights file and config of <paramref name="path"/>; a clear error when either is missing.</summary>
    public static (string Weights, string Config) Resolve(string path)
    {
        if (Directory.Exists(path))
        {
            string[] files = Directory.GetFiles(path, "*.safetensors");
            if (files.Length == 0) throw new InvalidDataException($"{path}: the head folder holds no *.safetensors file");
            string weights = files.Length == 1 ? files[0] : Path.Combine(path, "model.safetensors");
            if (!File.Exists(weights)) throw new InvalidDataException($"{path}: the head folder holds {files.Length} *.safetensors files and none is model.safetensors");
            return (weights, Path.Combine(path, "config.json"));
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such head file or folder", path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string own = Path.Combine(dir, Path.GetFileNameWithoutExtension(path) + ".config.json");
        return (path, File.Exists(own) ? own : Path.Combine(dir, "config.json"));
    }
}
