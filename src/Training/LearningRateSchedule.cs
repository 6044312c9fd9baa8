namespace SpecCore.Training;

/// <summary>Linear warm-up to the peak rate, then cosine or linear decay to <see cref="MinRatio"/> of it at the last step.</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, bool Cosine = true, double MinRatio = 0.1)
{
    /// <summary>The rate of update <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        int span = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        double shape = Cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return Peak * (MinRatio + (1 - MinRatio) * shape);
    }
}
