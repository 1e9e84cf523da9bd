// Package bench measures a model's decode and prefill speed beside the
// machine's memory read bandwidth, measured in the same run, so that the
// figures can be compared on a shared, noisy machine.
package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/membw"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Options size a measurement. Zero values take the defaults.
type Options struct {
	DecodeTokens  int // decode steps timed (default 40), in 5 rounds each paired with a bandwidth pass
	PrefillTokens int // prompt length of the prefill run (default 512)
	PrefillRuns   int // prefill runs, median reported (default 1)
	// BaseResident is the process's resident memory before the model was
	// opened (ResidentBytes then), which the memory ratio leaves out: the
	// program's own code and data.
	BaseResident int64
}

// Result is one measurement at one thread count.
type Result struct {
	Threads             int     `json:"threads"`
	WeightBytes         int     `json:"weight_bytes"`
	DecodeTokensPerS    float64 `json:"decode_tokens_per_s"`
	PrefillTokensPerS   float64 `json:"prefill_tokens_per_s"`
	WeightsBytesPerS    float64 `json:"weights_bytes_per_s"`
	MemoryReadBytesPerS float64 `json:"memory_read_bytes_per_s"`
	// BandwidthFraction is the median over the rounds of decode's weight
	// bytes per second divided by the bandwidth read in the same round.
	BandwidthFraction float64 `json:"weights_fraction_of_memory_read"`
	// ResidentBytes is the process's resident memory after the runs, with
	// the decode session and the last prefill's still open and freed Go
	// memory returned to the system (0 where the system does not say);
	// ModelResidentBytes is that less Options.BaseResident. HeldBytes is
	// the weights as held (llama.Model.HeldBytes), KVBytes what the two
	// sessions' KV caches hold.
	ResidentBytes      int64 `json:"resident_bytes"`
	ModelResidentBytes int64 `json:"model_resident_bytes"`
	HeldBytes          int   `json:"held_bytes"`
	KVBytes            int   `json:"kv_bytes"`
}

func (o *Options) defaults() {
	if o.DecodeTokens <= 0 {
		o.DecodeTokens = 40
	}
	if o.PrefillTokens <= 0 {
		o.PrefillTokens = 512
	}
	if o.PrefillRuns <= 0 {
		o.PrefillRuns = 1
	}
}

// rounds is how many times decode and the bandwidth pass alternate, so
// that each decode figure has a bandwidth reading taken moments apart.
const rounds = 5

// Measure times decode (median seconds per token over DecodeTokens steps)
// and prefill of PrefillTokens tokens at the given thread count, and the
// memory read bandwidth with as many threads. Decode runs in rounds, each
// right after a bandwidth pass; the fraction of bandwidth is the median of
// the rounds' ratios, so a burst of noise from other tenants of a shared
// machine moves one round, not the result.
func Measure(m *llama.Model, threads int, opts Options) (Result, error) {
	opts.defaults()
	prev := quant.Threads()
	quant.SetThreads(threads)
	defer quant.SetThreads(prev)
	r := Result{Threads: threads, WeightBytes: m.WeightBytes(), HeldBytes: m.HeldBytes()}

	rng := rand.New(rand.NewPCG(1, 2))
	token := func() int { return rng.IntN(m.Vocab) }
	sess := m.NewSession(llama.SessionOptions{})
	if _, err := sess.Forward([]int{token()}); err != nil { // warm up
		return r, err
	}
	perRound := max(1, min(opts.DecodeTokens, m.SeqLen-1)/rounds)
	var steps, bandwidth, fraction []float64
	for range rounds {
		bw := membw.ReadBandwidth(threads, 0, 1)
		var round []float64
		for range perRound {
			start := time.Now()
			if _, err := sess.Forward([]int{token()}); err != nil {
				return r, err
			}
			round = append(round, time.Since(start).Seconds())
		}
		steps = append(steps, round...)
		bandwidth = append(bandwidth, bw)
		fraction = append(fraction, float64(r.WeightBytes)/Median(round)/bw)
	}
	perToken := Median(steps)
	r.DecodeTokensPerS = 1 / perToken
	r.WeightsBytesPerS = float64(r.WeightBytes) / perToken
	r.MemoryReadBytesPerS = Median(bandwidth)
	r.BandwidthFraction = Median(fraction)

	n := min(opts.PrefillTokens, m.SeqLen)
	prompt := make([]int, n)
	runs := make([]float64, 0, opts.PrefillRuns)
	var filled *llama.Session
	for range opts.PrefillRuns {
		for i := range prompt {
			prompt[i] = token()
		}
		filled = m.NewSession(llama.SessionOptions{})
		start := time.Now()
		if _, err := filled.Forward(prompt); err != nil {
			return r, err
		}
		runs = append(runs, time.Since(start).Seconds())
	}
	r.PrefillTokensPerS = float64(n) / Median(runs)
	debug.FreeOSMemory()
	r.ResidentBytes = ResidentBytes()
	r.ModelResidentBytes = r.ResidentBytes - opts.BaseResident
	r.KVBytes = sess.KVCache().Bytes() + filled.KVCache().Bytes()
	return r, nil
}

// ResidentBytes is the process's resident set (VmRSS), or 0 where
// /proc/self/status does not give it.
func ResidentBytes() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Median is the middle value of x (the mean of the two middle ones for an
// even count); x is left as it is.
func Median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianOf is rs (one thread count's rounds) summed up: its speeds,
// bandwidths and bandwidth fraction are each the median over rs, the
// rest the last round's.
func MedianOf(rs []Result) Result {
	r := rs[len(rs)-1]
	median := func(field func(Result) float64) float64 {
		x := make([]float64, len(rs))
		for i, v := range rs {
			x[i] = field(v)
		}
		return Median(x)
	}
	r.DecodeTokensPerS = median(func(v Result) float64 { return v.DecodeTokensPerS })
	r.PrefillTokensPerS = median(func(v Result) float64 { return v.PrefillTokensPerS })
	r.WeightsBytesPerS = median(func(v Result) float64 { return v.WeightsBytesPerS })
	r.MemoryReadBytesPerS = median(func(v Result) float64 { return v.MemoryReadBytesPerS })
	r.BandwidthFraction = median(func(v Result) float64 { return v.BandwidthFraction })
	return r
}

// Row formats a result as one line of a table (see Header).
func (r Result) Row(name string) string {
	return fmt.Sprintf("%-10s %9.1f %7d %10.2f %11.1f %12.2f %12.2f %7.0f%% %11.0f %10.2f×",
		name, float64(r.WeightBytes)/1e6, r.Threads, r.DecodeTokensPerS, r.PrefillTokensPerS,
		r.WeightsBytesPerS/1e9, r.MemoryReadBytesPerS/1e9, 100*r.BandwidthFraction,
		float64(r.ModelResidentBytes)/1e6, float64(r.ModelResidentBytes)/float64(r.HeldBytes+r.KVBytes))
}

// Header is the table heading for Row: model RSS MB is ModelResidentBytes,
// and rss/(w+kv) its ratio to the weights as held and the KV caches.
const Header = "format     weights MB threads decode t/s prefill t/s weights GB/s memread GB/s  of mem model RSS MB rss/(w+kv)"
