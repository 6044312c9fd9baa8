using System.Diagnostics;
using SpecCore.Models.Tokenization;
using SpecCore.Tests.Models;

namespace SpecCore.Tests.Cli;

/// <summary>The architecture probes through the `speccore generate` binary from the text prompt: the
/// tokenizer gives the reference prompt ids, and stdout is the prompt and the reference greedy continuation
/// decoded with special tokens skipped.</summary>
public class ProbeGenerateTests
{
    [Theory]
    [MemberData(nameof(ProbeReference.Probes), MemberType = typeof(ProbeReference))]
    public void GenerateFromTextPrintsReferenceContinuation(string model)
    {
        string dir = TestModels.Path(model);
        ITextTokenizer tokenizer = TokenizerLoader.Load(dir);
        foreach (var c in ProbeReference.Load(model).Cases.Where(c => c.Prompt.Length > 0).Take(2))
        {
            Assert.Equal(c.PromptIds, tokenizer.Encode(c.Prompt, addSpecialTokens: true));
            string stdout = RunCli("generate", "--model", dir, "--prompt", c.Prompt, "--max-tokens", c.GreedyIds.Length.ToString(), "--device", "cpu", "--threads", "1");
            string expected = tokenizer.Decode(c.PromptIds.Concat(c.GreedyIds).ToArray(), skipSpecialTokens: true);
            Assert.Equal(expected, stdout.TrimEnd('\n'));
        }
    }

    private static string RunCli(params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "speccore.exe" : "speccore"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "speccore generate did not finish in 2 minutes");
        Assert.True(p.ExitCode == 0, $"speccore generate exited with {p.ExitCode}: {stderr.Result}");
        return stdout;
    }
}
