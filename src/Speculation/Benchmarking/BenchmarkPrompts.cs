namespace SpecCore.Speculation.Benchmarking;

/// <summary>The fixed prompt set of the speculative benchmarks: TinyStories-style openings like the shared models'
/// training text (not the prompts the shipped acceptance profiles were measured on).</summary>
public static class BenchmarkPrompts
{
    /// <summary>The prompts.</summary>
    public static IReadOnlyList<string> TinyStories { get; } = new[]
    {
        "Once upon a time",
        "Lily and Tom went to the park. They saw",
        "The little dog was sad because",
        "One day, a big bear found a honey pot.",
        "Tim liked to play with his red car. One day",
        "There was a girl named Sue. She loved to",
    };
}
