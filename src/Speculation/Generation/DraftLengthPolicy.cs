namespace SpecCore.Speculation.Generation;

/// <summary>
/// Chooses the draft length k of each round. <see cref="Fixed"/> always returns the same k.
/// <see cref="Adaptive"/> maximises expected tokens per second under a latency model:
/// E[tokens per round] = (1 − α^(k+1)) / (1 − α), cost = k · t_draft + t_verify(k), with α the acceptance
/// rate over a window of recent rounds (refined depth by depth: later draft tokens are accepted less often) and both
/// times measured as the run goes (as AdaSD adapts its window); the first rounds of a policy are not timed.
/// The adaptive policy may also choose k = 0, a plain decoding step without the drafter, when the measured
/// cost of a plain step says no draft length pays (a draft too slow or too often wrong for this target on this
/// hardware); it still tries k = 1 now and then, so a rising α brings drafting back.
/// </summary>
public sealed class DraftLengthPolicy
{
    private const int Window = 128;
    private readonly int _fixed;
    private readonly int _maxK;
    private readonly double[] _verifySeconds; // EMA of a verify pass of k drafts, by k (index k; 0: a plain step); NaN = not measured
    private double _draftSecondsPerToken = double.NaN;
    // Whether a pass of k drafts has run once: that first pass is not timed, because it may include the JIT compiling
    // the kernels of a batch shape used for the first time (a few times the pass itself on a tiny model), and that one
    // reading would otherwise make k look expensive until it happened to be probed again.
    private readonly bool[] _warm;
    // The acceptance window, like the costs, carries over from one generation to the next: the hardware and the model
    // pair have not changed, and a generation that restarted from the prior α would begin pessimistic and, once plain
    // steps win under that prior, learn the real α only through the occasional k = 1 probe.
    private readonly int[] _triedWindow = new int[Window];
    private readonly int[] _acceptedWindow = new int[Window];
    private int _rounds;
    // Running sums over the window, kept as it moves: positions tried and accepted, and by depth (drafts that reached, and
    // that were accepted at, depth d).
    private int _tried, _accepted;
    private readonly int[] _depthTried = new int[65];
    private readonly int[] _depthAccepted = new int[65];
    private int _choices;
    // Rounds recorded so far, and how many go untimed at the start: a process's first rounds run several times slower than
    // its later ones (2–5× over the first ~15 rounds of a fresh process on a shared 2-core host, the machine ramping up
    // under load), and an exploration timed in that ramp made the draft lengths explored first look dear for good.
    private int _seen;
    private const int SettlingRounds = 16;
    // The k of the last choice, kept unless another rates this much better (see BestK).
    private int _current = -1;
    private const double SwitchGain = 0.03;

    private DraftLengthPolicy(int fixedK, int maxK)
    {
        _fixed = fixedK;
        _maxK = maxK;
        _verifySeconds = new double[maxK + 1];
        Array.Fill(_verifySeconds, double.NaN);
        _warm = new bool[maxK + 1];
    }

    /// <summary>Always draft <paramref name="k"/> tokens.</summary>
    public static DraftLengthPolicy Fixed(int k)
    {
        if (k < 1 || k > 64) throw new ArgumentOutOfRangeException(nameof(k), k, "draft length must be between 1 and 64");
        return new DraftLengthPolicy(k, k);
    }

    /// <summary>Choose k in [0, <paramref name="maxK"/>] each round from the latency model (0: a plain step).</summary>
    public static DraftLengthPolicy Adaptive(int maxK = 8) => new(0, Math.Clamp(maxK, 1, 64));

    /// <summary>Parses "auto" or a number.</summary>
    public static DraftLengthPolicy Parse(string text) =>
        text.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Adaptive()
        : int.TryParse(text, out int k) && k >= 1 && k <= 64 ? Fixed(k)
        : throw new ArgumentException($"--spec-k must be a number from 1 to 64 or 'auto', got '{text}'");

    /// <summary>True for the adaptive policy.</summary>
    public bool IsAdaptive => _fixed == 0;

    /// <summary>Largest k the policy may choose.</summary>
    public int MaxK => _maxK;

    /// <summary>The acceptance rate α over the recent window (a prior of 0.6 until rounds are seen).</summary>
    public double Alpha
    {
        get
        {
            // A weak prior keeps α away from 0 and 1 while few positions were tried.
            return (_accepted + 0.6 * 4) / (_tried + 4.0);
        }
    }

    /// <summary>The k for the next round; 0 (adaptive only) means a plain decoding step without drafting.</summary>
    public int Choose()
    {
        if (!IsAdaptive) return _fixed;
        // While settling: a sensible default, untimed.
        if (_seen < SettlingRounds) return Math.Min(2, _maxK);
        // Measure a spread of k before trusting the model (cheap exploration of the verify cost curve), then a plain
        // step, the cost every k is weighed against; each is run twice, as its first pass is not timed.
        for (int k = 1; k <= _maxK; k *= 2)
            if (double.IsNaN(_verifySeconds[k])) return k;
        if (double.IsNaN(_verifySeconds[0])) return 0;
        double alpha = Math.Min(Alpha, 0.995);
        int best = BestK(alpha);
        // Re-measure a neighbour now and then: one noisy measurement must not rule a k out for good.
        _choices++;
        if (_choices % 8 == 0)
        {
            int neighbour = (_choices / 8) % 2 == 0 ? best + 1 : best - 1;
            if (neighbour >= 1 && neighbour <= _maxK) return neighbour;
        }
        return best;
    }

    private int BestK(double alpha)
    {
        int best = 0;
        double bestRate = Rate(alpha, 0);
        for (int k = 1; k <= _maxK; k++)
        {
            double rate = Rate(alpha, k);
            if (rate > bestRate)
            {
                bestRate = rate;
                best = k;
            }
        }
        // Changing k costs by itself (rounds drawn at random from k = 2, 3, 4 ran 4-6 % slower than the mean of the three
        // fixed lengths on the main shared pair), and near the best the model's rates differ by less than its noise: keep
        // the current k unless another is clearly better.
        if (_current >= 0 && best != _current && bestRate < Rate(alpha, _current) * (1 + SwitchGain)) return _current;
        _current = best;
        return best;
    }

    /// <summary>Expected tokens per second with k drafts (a plain step, k = 0, yields one token per pass).</summary>
    private double Rate(double alpha, int k) => k == 0 ? 1 / _verifySeconds[0]
        : MeasuredExpectedTokens(alpha, k) / (k * _draftSecondsPerToken + VerifyCost(k));

    /// <summary>Expected tokens per round with k drafts from the acceptance measured at each depth of the window:
    /// 1 + Σ_{i ≤ k} Π_{j ≤ i} a_j, with a_j the share of drafts accepted at depth j among those that got there. Later draft
    /// tokens are accepted less often than the first (on the main shared pair the one-rate formula below overestimates a
    /// 4-token draft by 5 %), and the one-rate formula would favour long drafts. A depth with few readings leans on α.</summary>
    private double MeasuredExpectedTokens(double alpha, int k)
    {
        const double priorWeight = 8;
        double expected = 1, reach = 1;
        for (int depth = 1; depth <= k; depth++)
        {
            reach *= (_depthAccepted[depth] + alpha * priorWeight) / (_depthTried[depth] + priorWeight);
            expected += reach;
        }
        return expected;
    }

    /// <summary>Expected tokens per round with k drafts at acceptance α: (1 − α^(k+1)) / (1 − α).</summary>
    public static double ExpectedTokens(double alpha, int k) => (1 - Math.Pow(alpha, k + 1)) / (1 - alpha);

    /// <summary>Predicted tokens per second for k given α, a draft step time and a verify time.</summary>
    public static double PredictedTokensPerSecond(double alpha, int k, double draftSeconds, double verifySeconds) =>
        ExpectedTokens(alpha, k) / (k * draftSeconds + verifySeconds);

    /// <summary>Verify time for k drafts: measured, else interpolated linearly between measured neighbours.</summary>
    private double VerifyCost(int k)
    {
        if (!double.IsNaN(_verifySeconds[k])) return _verifySeconds[k];
        int lo = k - 1;
        while (lo > 0 && double.IsNaN(_verifySeconds[lo])) lo--;
        int hi = k + 1;
        while (hi <= _maxK && double.IsNaN(_verifySeconds[hi])) hi++;
        if (lo >= 1 && hi <= _maxK)
            return _verifySeconds[lo] + (_verifySeconds[hi] - _verifySeconds[lo]) * (k - lo) / (hi - lo);
        return lo >= 1 ? _verifySeconds[lo] : _verifySeconds[hi];
    }

    /// <summary>Records a plain step (k = 0) of <paramref name="seconds"/>: the target pass the speculative rounds compete with.</summary>
    public void RecordPlain(double seconds)
    {
        if (_seen++ < SettlingRounds) return;
        if (!_warm[0]) _warm[0] = true;
        else _verifySeconds[0] = Smooth(_verifySeconds[0], seconds);
    }

    /// <summary>The moving average of a cost after one more sample. A sample is first clamped to within a factor of two of
    /// the average: one round slowed by a preemption on a shared machine must not rule a k out for many rounds, while a
    /// lasting change still moves the average by up to a fifth per round.</summary>
    private static double Smooth(double average, double sample)
    {
        const double decay = 0.8;
        if (double.IsNaN(average)) return sample;
        sample = Math.Clamp(sample, average / 2, average * 2);
        return decay * average + (1 - decay) * sample;
    }

    /// <summary>Records the acceptance of a round whose timings are not representative.</summary>
    public void RecordAcceptance(int tried, int accepted)
    {
        _seen++;
        tried = Math.Clamp(tried, 0, 64);
        accepted = Math.Clamp(accepted, 0, tried);
        int slot = _rounds++ % Window;
        if (_rounds > Window) Count(_triedWindow[slot], _acceptedWindow[slot], -1);
        _triedWindow[slot] = tried;
        _acceptedWindow[slot] = accepted;
        Count(tried, accepted, 1);
    }

    private void Count(int tried, int accepted, int sign)
    {
        _tried += sign * tried;
        _accepted += sign * accepted;
        for (int d = 1; d <= tried; d++) _depthTried[d] += sign;
        for (int d = 1; d <= accepted; d++) _depthAccepted[d] += sign;
    }

    /// <summary>Records a round: k drafted, positions tried and accepted, seconds in the drafter and in verification.</summary>
    public void Record(int k, int tried, int accepted, double draftSeconds, double verifySeconds)
    {
        bool settling = _seen < SettlingRounds;
        RecordAcceptance(tried, accepted);
        if (k < 1 || k > _maxK || settling) return;
        if (!_warm[k])
        {
            _warm[k] = true;
            return;
        }
        _draftSecondsPerToken = Smooth(_draftSecondsPerToken, draftSeconds / k);
        _verifySeconds[k] = Smooth(_verifySeconds[k], verifySeconds);
    }
}
