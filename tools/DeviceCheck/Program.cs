using System.Diagnostics;
using System.Reflection;
using SpecCore.Cli;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

// DeviceCheck: the test suite and the CLI on a machine with the .NET runtime but no SDK (no `dotnet test`).
//   DeviceCheck tests <filter>...   runs every [Fact]/[Theory] case whose "Namespace.Class.Method" contains a filter
//   DeviceCheck cli <speccore args>  runs the speccore command line in this process
if (args.Length >= 1 && args[0] == "cli")
    return CommandRunner.Run(CliApp.CreateRoot(), args[1..]);
if (args.Length >= 1 && args[0] == "tests")
    return TestRunner.Run(args[1..]);
Console.Error.WriteLine("usage: DeviceCheck tests <name filter>... | DeviceCheck cli <speccore arguments>");
return 2;

/// <summary>A minimal reflection runner for xunit v2 tests: constructor fixtures (class and collection) are
/// made once per fixture type and shared, as xunit shares a collection fixture; theories expand through their
/// data attributes. Enough for this suite; not a general xunit runner.</summary>
internal static class TestRunner
{
    public static int Run(string[] filters)
    {
        Assembly tests = typeof(SpecCore.Tests.Ilgpu.IlgpuFixture).Assembly;
        var fixtures = new Dictionary<Type, object>();
        int passed = 0, failed = 0, skipped = 0;
        var failures = new List<string>();
        var total = Stopwatch.StartNew();
        foreach (Type type in tests.GetTypes().Where(t => t.IsClass && !t.IsAbstract && t.IsPublic).OrderBy(t => t.FullName))
        {
            foreach (MethodInfo method in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
            {
                var fact = method.GetCustomAttribute<FactAttribute>();
                if (fact is null) continue;
                string name = $"{type.FullName}.{method.Name}";
                if (filters.Length > 0 && !filters.Any(f => name.Contains(f, StringComparison.OrdinalIgnoreCase))) continue;
                if (fact.Skip is not null) { skipped++; Console.WriteLine($"SKIP {name}: {fact.Skip}"); continue; }
                foreach (object?[] row in Cases(method, fact))
                {
                    string display = row.Length == 0 ? name : $"{name}({string.Join(", ", row)})";
                    var sw = Stopwatch.StartNew();
                    try
                    {
                        object? instance = method.IsStatic ? null : Create(type, fixtures);
                        try
                        {
                            object? result = method.Invoke(instance, row);
                            if (result is Task task) task.GetAwaiter().GetResult();
                        }
                        finally
                        {
                            (instance as IDisposable)?.Dispose();
                        }
                        passed++;
                        Console.WriteLine($"PASS {display} [{sw.Elapsed.TotalSeconds:F2} s]");
                    }
                    catch (Exception e)
                    {
                        Exception inner = e is TargetInvocationException { InnerException: { } ie } ? ie : e;
                        failed++;
                        failures.Add(display);
                        Console.WriteLine($"FAIL {display} [{sw.Elapsed.TotalSeconds:F2} s]\n{inner}");
                    }
                }
            }
        }
        foreach (object fixture in fixtures.Values) (fixture as IDisposable)?.Dispose();
        Console.WriteLine($"\n{passed} passed, {failed} failed, {skipped} skipped in {total.Elapsed.TotalSeconds:F1} s");
        foreach (string f in failures) Console.WriteLine($"  failed: {f}");
        return failed == 0 && passed > 0 ? 0 : 1;
    }

    private static IEnumerable<object?[]> Cases(MethodInfo method, FactAttribute fact)
    {
        if (fact is not TheoryAttribute) return new[] { Array.Empty<object?>() };
        var rows = new List<object?[]>();
        foreach (DataAttribute data in method.GetCustomAttributes<DataAttribute>())
            rows.AddRange(data.GetData(method));
        return rows;
    }

    private static object Create(Type type, Dictionary<Type, object> fixtures)
    {
        ConstructorInfo ctor = type.GetConstructors().Single();
        var values = ctor.GetParameters().Select(p =>
        {
            if (p.ParameterType == typeof(ITestOutputHelper)) return (object)new ConsoleOutput();
            if (!fixtures.TryGetValue(p.ParameterType, out object? fixture))
                fixtures[p.ParameterType] = fixture = Activator.CreateInstance(p.ParameterType)!;
            return fixture;
        }).ToArray();
        return ctor.Invoke(values);
    }

    private sealed class ConsoleOutput : ITestOutputHelper
    {
        public void WriteLine(string message) => Console.WriteLine("  | " + message);
        public void WriteLine(string format, params object[] args) => Console.WriteLine("  | " + string.Format(format, args));
    }
}
