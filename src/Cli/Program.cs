using SpecCore.Cli;

// NativeAOT: run in the binary compiled for the CPU's widest kernels (speccore-avx512 beside speccore), or $SPECCORE_CPU's.
int? redirected;
try
{
    redirected = IsaDispatch.Redirect(args);
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {CommandRunner.Describe(e)}");
    return CommandRunner.UserErrorExitCode;
}
return redirected ?? CommandRunner.Run(CliApp.CreateRoot(), args);
