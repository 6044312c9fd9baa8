using SpecCore.Speculation.Heads;

namespace SpecCore.Tests.Speculation;

/// <summary>The shared rule for the layers an EAGLE-3 head reads.</summary>
public class EagleFeatureLayerTests
{
    [Theory]
    [InlineData(32, 2, 16, 29)] // EAGLE-3's own choice on a deep target
    [InlineData(12, 2, 6, 9)]
    [InlineData(6, 1, 3, 4)]    // stories2M: (2, 3, 3) coincide
    [InlineData(5, 1, 2, 3)]
    [InlineData(4, 0, 2, 3)]    // both earlier rules coincide: evenly spaced
    [InlineData(3, 2, 1, 0)]
    public void LayersAreDistinctAndInRange(int layers, int a, int b, int c)
    {
        int[] ids = EagleFeatureLayers.For(layers);
        Assert.Equal(new[] { a, b, c }, ids);
    }
}
