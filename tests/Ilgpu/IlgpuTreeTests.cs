using SpecCore.Tests.Speculation;

namespace SpecCore.Tests.Ilgpu;

/// <summary>The token-tree checks of the speculation tests, run on the ILGPU backend (its CPU accelerator in CI,
/// CUDA/OpenCL with SPECCORE_TEST_DEVICE).</summary>
[Collection("ilgpu")]
public class IlgpuTreeTests(IlgpuFixture fixture)
{
    [Fact]
    public void TreeForwardMatchesChainForEveryPath() => TreeForwardConsistency.CheckTreePathsMatchChains(fixture.ModelGpu, nodes: 12, seed: 5, tolerance: 1e-4);

    [Fact]
    public void CompactedCacheMatchesFreshPrefill() => TreeForwardConsistency.CheckCompactionMatchesPrefill(fixture.ModelGpu, nodes: 12, seed: 9, tolerance: 1e-4);

    [Fact]
    public void LevelByLevelTreeForwardMatchesOneBatch() => TreeForwardConsistency.CheckLevelByLevelMatchesOneBatch(fixture.ModelGpu, nodes: 12, seed: 7, tolerance: 1e-4);
}
