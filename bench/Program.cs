using BenchmarkDotNet.Running;

// Kernel microbenchmarks (BenchmarkDotNet). Examples:
//   dotnet run -c Release --project bench -- --list flat
//   dotnet run -c Release --project bench -- --filter '*MatMul*'
// End-to-end figures (prefill, decode, verify-k, speculative) come from `speccore bench`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
