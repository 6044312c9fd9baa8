using SpecCore.Kernels.Cpu;

namespace SpecCore.Tests.Models;

/// <summary>The four architecture probes (Qwen3 q/k norm, Llama 3 rope scaling, Qwen2 biases with F16
/// weights, Mistral sliding window) against their independent references on the CPU backend, on the
/// AVX-512 (where present), AVX2 and scalar paths.</summary>
public class FamilyReferenceTests
{
    [Theory]
    [MemberData(nameof(ProbeReference.Probes), MemberType = typeof(ProbeReference))]
    public void ProbeMatchesReference(string model)
    {
        using var backend = new CpuBackend(2);
        ProbeReference.Load(model).Check(backend);
    }

    [Theory]
    [MemberData(nameof(ProbeReference.Probes), MemberType = typeof(ProbeReference))]
    public void ProbeMatchesReferenceOnPortableKernels(string model)
    {
        using var backend = new CpuBackend(2, forceScalar: true);
        ProbeReference.Load(model).Check(backend, maxTokens: 24);
    }
}
