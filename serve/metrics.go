package serve

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests         *prometheus.CounterVec // by api and outcome
	promptTokens     prometheus.Counter
	completionTokens prometheus.Counter
	firstToken       prometheus.Histogram
	tokenLatency     prometheus.Histogram
	fetching         prometheus.Gauge // models being fetched to answer for them
	fetchedBytes     prometheus.Gauge // their bytes local so far
}

// Outcomes of a request, the label outcome of accel_inference_requests_total.
const (
	outcomeOK        = "ok"
	outcomeError     = "error"     // refused or failed
	outcomeCancelled = "cancelled" // the client went away, or cancelled
)

func newMetrics(reg prometheus.Registerer, waiting func() float64) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "accel", Name: "inference_requests_total",
			Help: "Inference requests by API (completions, chat, stream) and outcome (ok, error, cancelled)."}, []string{"api", "outcome"}),
		promptTokens: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "accel", Name: "inference_prompt_tokens_total",
			Help: "Prompt tokens of inference requests."}),
		completionTokens: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "accel", Name: "inference_completion_tokens_total",
			Help: "Tokens generated for inference requests."}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "accel", Name: "inference_time_to_first_token_seconds",
			Help: "Time from a request's arrival to its first token.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		tokenLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "accel", Name: "inference_token_latency_seconds",
			Help: "Time between two tokens of a generation.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		fetching: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "accel", Name: "inference_models_fetching",
			Help: "Models not held here being fetched for the requests that named them."}),
		fetchedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "accel", Name: "inference_models_fetched_bytes",
			Help: "Bytes local so far of the models being fetched for requests."}),
	}
	reg.MustRegister(m.requests, m.promptTokens, m.completionTokens, m.firstToken, m.tokenLatency, m.fetching, m.fetchedBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "accel", Name: "inference_queue_depth",
			Help: "Inference requests waiting for their model's turn."}, waiting))
	return m
}
