using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using SpecCore.Engine;

namespace SpecCore.Server;

/// <summary>The server's counters and the engine's totals as Prometheus text (<c>GET /metrics</c>).</summary>
internal sealed class ServerMetrics
{
    private readonly ConcurrentDictionary<(string Endpoint, int Status), long> _responses = new();
    private long _disconnects;

    public void Count(string endpoint, int status) => _responses.AddOrUpdate((endpoint, status), 1, (_, n) => n + 1);

    public void CountDisconnect() => Interlocked.Increment(ref _disconnects);

    public string Render(InferenceEngine engine, SessionPool pool)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        void Metric(string name, string type, string help, double value, string labels = "")
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            text.Append(name).Append(labels).Append(' ').Append(value.ToString("R", c)).Append('\n');
        }
        text.Append("# HELP speccore_http_responses_total HTTP responses by endpoint and status code.\n# TYPE speccore_http_responses_total counter\n");
        foreach (var ((endpoint, status), n) in _responses.OrderBy(kv => kv.Key.Endpoint, StringComparer.Ordinal).ThenBy(kv => kv.Key.Status))
            text.Append(c, $"speccore_http_responses_total{{endpoint=\"{endpoint}\",code=\"{status}\"}} {n}\n");
        EngineMetrics m = engine.Metrics;
        Metric("speccore_requests_total", "counter", "Generation requests finished (errors included).", m.Requests);
        Metric("speccore_request_errors_total", "counter", "Generation requests that failed.", m.FailedRequests);
        Metric("speccore_client_disconnects_total", "counter", "Requests whose client went away before the end.", Interlocked.Read(ref _disconnects));
        Metric("speccore_prompt_tokens_total", "counter", "Prompt tokens received.", m.PromptTokens);
        Metric("speccore_prompt_tokens_cached_total", "counter", "Prompt tokens served from a session's KV cache.", m.CachedPromptTokens);
        Metric("speccore_completion_tokens_total", "counter", "Tokens generated.", m.CompletionTokens);
        Metric("speccore_draft_tokens_total", "counter", "Draft tokens proposed.", m.DraftedTokens);
        Metric("speccore_draft_tokens_accepted_total", "counter", "Draft tokens accepted by the target.", m.AcceptedTokens);
        Metric("speccore_draft_acceptance_rate", "gauge", "Accepted over tried draft positions, all requests so far.", m.AcceptanceRate);
        Metric("speccore_draft_length_mean", "gauge", "Mean draft length per speculative round, all requests so far.", m.MeanDraftLength);
        Metric("speccore_tokens_per_second", "gauge", "Generated tokens per second of generation time, all requests so far.", m.DecodeTokensPerSecond);
        Metric("speccore_queue_depth", "gauge", "Requests waiting for a slot.", pool.Waiting);
        Metric("speccore_requests_running", "gauge", "Requests holding a slot.", pool.Running);
        Metric("speccore_slots", "gauge", "Slots (sessions generating at once).", pool.Slots);
        return text.ToString();
    }
}
