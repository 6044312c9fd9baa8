#!/usr/bin/env bash
# Runs the tree benchmark (or, with "profiles", re-measures the acceptance profiles into profiles/) without touching
# bench/Program.cs: builds a throwaway console app that calls SpecCore.Bench.Speculation.TreeBenchmark.
#   bench/Speculation/run-tree-bench.sh [bench|profiles] [threads] [tokens]
# Optional environment: CHAINS=1,2,4 TREES=sequoia:15,dynamic:15 PAIRS=stories2M (target names) narrow the bench.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mode="${1:-bench}"; threads="${2:-2}"; tokens="${3:-128}"
models="${SPECCORE_MODELS:-$repo/../shared/models}"
work="$(mktemp -d /tmp/speccore-treebench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cat > "$work/TreeBenchRunner.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable></PropertyGroup>
  <ItemGroup><ProjectReference Include="$repo/bench/SpecCore.Bench.csproj" /></ItemGroup>
</Project>
PROJ
cat > "$work/Program.cs" <<CS
using SpecCore.Bench.Speculation;
if (args[0] == "profiles") TreeBenchmark.MeasureSharedProfiles(args[1], args[2], int.Parse(args[3]), Console.Out);
else
{
    string[]? List(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Split(',') : null;
    TreeBenchmark.RunSharedPairs(args[1], args[2], int.Parse(args[3]), Console.Out, int.Parse(args[4]),
        chains: List("CHAINS")?.Select(int.Parse).ToArray(), trees: List("TREES"), pairs: List("PAIRS"));
}
CS
dotnet run -c Release --project "$work/TreeBenchRunner.csproj" -- "$mode" "$models" "$repo/profiles" "$threads" "$tokens"
