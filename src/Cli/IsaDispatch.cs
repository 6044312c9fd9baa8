using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SpecCore.Kernels.Cpu;

namespace SpecCore.Cli;

/// <summary>Runs the command in the build whose kernels match the CPU, or the level $SPECCORE_CPU asks for.</summary>
/// <remarks>
/// NativeAOT fixes the instruction set at compile time: above the baseline, <c>Avx512F.IsSupported</c> and
/// <c>Vector512.IsHardwareAccelerated</c> are constant false (ILC never makes AVX-512 an opportunistic run-time check), and
/// an x86-64-v4 binary refuses to start on a CPU without AVX-512. So the AOT publish ships two binaries side by side:
/// <c>speccore</c> (x86-64-v3, AVX2 kernels) and <c>speccore-avx512</c> (x86-64-v4, AVX-512 kernels). <c>speccore</c> is
/// the one to run: on an AVX-512 CPU it replaces itself (execve, same arguments, no second start-up of its own) with
/// <c>speccore-avx512</c>. <c>SPECCORE_CPU=avx2</c> (or DOTNET_EnableAVX512=0, the JIT's own switch, which NativeAOT
/// ignores) keeps the AVX2 binary; <c>SPECCORE_CPU=avx512</c> asks for AVX-512 and fails where the CPU lacks it.
/// The JIT build already takes the CPU's widest path; there SPECCORE_CPU=avx2 re-runs the process with DOTNET_EnableAVX512=0.
/// </remarks>
internal static unsafe partial class IsaDispatch
{
    /// <summary>File name of the x86-64-v4 NativeAOT binary published beside <c>speccore</c>.</summary>
    internal const string Avx512Binary = "speccore-avx512";

    /// <summary>File name of the x86-64-v3 NativeAOT binary (the entry point).</summary>
    internal const string Avx2Binary = "speccore";

    private const string Variable = "SPECCORE_CPU";
    private const string DispatchedVariable = "SPECCORE_CPU_DISPATCHED";

    /// <summary>Null to run the command in this process; otherwise the exit code to return (a refusal, or the code of
    /// the process run instead where exec is not available).</summary>
    public static int? Redirect(string[] args)
    {
        string request = (Environment.GetEnvironmentVariable(Variable) ?? "").Trim().ToLowerInvariant();
        bool aot = !RuntimeFeature.IsDynamicCodeSupported;
        bool? want512 = request switch
        {
            "" or "auto" => aot && !JitSwitchOff() ? CpuFeatures.HardwareHasAvx512 : null,
            "avx2" => false,
            "avx512" or "avx-512" => true,
            _ => throw new ArgumentException($"{Variable}={request}: expected auto, avx2 or avx512"),
        };
        if (want512 is not { } wide || wide == CpuFeatures.Avx512Kernels) return null;
        if (wide && !CpuFeatures.HardwareHasAvx512) throw new PlatformNotSupportedException($"{Variable}={request}, but this CPU has no AVX-512 (F/BW/CD/DQ/VL)");
        if (Environment.GetEnvironmentVariable(DispatchedVariable) == "1") return null; // the binary picked cannot do it either

        var env = new Dictionary<string, string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables()) env[(string)e.Key] = (string?)e.Value ?? "";
        env[DispatchedVariable] = "1";
        List<string> argv;
        string path;
        if (aot)
        {
            string target = Path.Combine(AppContext.BaseDirectory, wide ? Avx512Binary : Avx2Binary);
            if (!File.Exists(target))
            {
                if (request is "" or "auto")
                {
                    Console.Error.WriteLine($"speccore: this CPU has AVX-512 but {target} is missing; running the AVX2 kernels");
                    return null;
                }
                throw new FileNotFoundException($"{Variable}={request} needs {target} (publish both NativeAOT binaries)");
            }
            path = target;
            argv = [Environment.GetCommandLineArgs()[0]]; // the name the user ran stays argv[0] (help's usage line)
        }
        else
        {
            // JIT: the runtime reads DOTNET_EnableAVX512 at start-up, so run the same command again with it set.
            env["DOTNET_EnableAVX512"] = wide ? "1" : "0";
            string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
            path = host;
            argv = [host];
            if (Path.GetFileNameWithoutExtension(host) == "dotnet") argv.Add(Environment.GetCommandLineArgs()[0]); // dotnet speccore.dll: [0] is the .dll
        }
        argv.AddRange(args);
        return Exec(path, argv, env);
    }

    /// <summary>DOTNET_EnableAVX512=0 (or the older DOTNET_EnableAVX512F=0) asks the AOT binary for AVX2, as it asks the JIT.</summary>
    private static bool JitSwitchOff() =>
        Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0" || Environment.GetEnvironmentVariable("DOTNET_EnableAVX512F") == "0";

    private static int Exec(string path, List<string> argv, Dictionary<string, string> env)
    {
        if (OperatingSystem.IsWindows())
        {
            var start = new System.Diagnostics.ProcessStartInfo(path) { UseShellExecute = false };
            foreach (string a in argv.Skip(1)) start.ArgumentList.Add(a);
            foreach (var (k, v) in env) start.Environment[k] = v;
            using var process = System.Diagnostics.Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        byte** file = Strings([path]);
        byte** av = Strings(argv);
        byte** ev = Strings([.. env.Select(kv => $"{kv.Key}={kv.Value}")]);
        execve(file[0], av, ev); // returns only on failure
        int errno = Marshal.GetLastPInvokeError();
        throw new IOException($"cannot run {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    private static byte** Strings(List<string> items)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)(items.Count + 1), (nuint)sizeof(byte*));
        for (int i = 0; i < items.Count; i++) array[i] = (byte*)Marshal.StringToCoTaskMemUTF8(items[i]);
        array[items.Count] = null;
        return array;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int execve(byte* path, byte** argv, byte** envp);
}
