using SpecCore.Speculation.Heads;

namespace SpecCore.Tests.Speculation;

/// <summary>Where a head's config is found: a folder's config.json, a file's own NAME.config.json, else config.json beside it.</summary>
public sealed class HeadFilesTests
{
    [Fact]
    public void AFileTakesItsOwnConfigBeforeTheSharedOne()
    {
        string dir = Directory.CreateTempSubdirectory("speccore-headfiles-").FullName;
        try
        {
            string a = Path.Combine(dir, "a.safetensors"), b = Path.Combine(dir, "b.safetensors");
            File.WriteAllText(a, "");
            File.WriteAllText(b, "");
            File.WriteAllText(Path.Combine(dir, "a.config.json"), "{}");
            File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
            Assert.Equal(Path.Combine(dir, "a.config.json"), HeadFiles.Resolve(a).Config);
            Assert.Equal(Path.Combine(dir, "config.json"), HeadFiles.Resolve(b).Config);
            File.Delete(b);
            Assert.Equal((a, Path.Combine(dir, "config.json")), HeadFiles.Resolve(dir)); // a folder: its one weights file and config.json
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
