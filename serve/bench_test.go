package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// Sizes of BenchmarkServeVsLlamaServer: the concurrent streams of each
// load, the prompt's tokens (BOS and single letters, one token each to
// both tokenizers; both counts are checked) and the greedy tokens each
// stream generates, the runs of each load on each server (medians are
// quoted), and the rounds of the cold-node comparison.
var benchStreams = []int{1, 4, 8}

const (
	benchPromptTokens = 32
	benchTokens       = 128
	benchRuns         = 5
	coldRounds        = 3
	coldTokens        = 8
)

// BenchmarkServeVsLlamaServer measures, in one run, the daemon's inference
// API on the ≈307M-parameter synthetic Q4_0 model of `accel synth`:
//
//   - streams: aggregate decode tokens/s and the time to first token of
//     1, 4 and 8 concurrent streamed completions (/v1/completions, SSE),
//     beside llama.cpp's llama-server on the same file with as many
//     slots, driven by the same client, the two interleaved run by run;
//     llama-server's build directory comes from $LLAMA_CPP (without it,
//     accel's figures alone);
//   - cold: a daemon that holds nothing, asked for the model by CID while
//     a connected peer holds it: the time to its first token and to the
//     model's last block (pinned), beside a pin add of the model by a
//     daemon in the same state.
//
// It prints the CPU, then a table of each. It runs once whatever b.N:
//
//	LLAMA_CPP=DIR go test ./serve/ -run '^$' -bench ServeVsLlamaServer -benchtime 1x -timeout 30m
func BenchmarkServeVsLlamaServer(b *testing.B) {
	if _, err := os.Stat("../cmd/accel"); err != nil {
		b.Skip(err)
	}
	llamaServer := daemontest.LlamaServerBin(b)
	bin, remove := daemontest.BuildAccel("../cmd/accel")
	b.Cleanup(remove)
	file := daemontest.SynthModel(b, bin, "Q4_0")
	fmt.Printf("CPU: %s, %d cores\n", daemontest.CPUModel(), runtime.NumCPU())
	a := daemontest.StartAccel(b, bin, daemontest.NewRepo(b, bin))
	root := strings.TrimSpace(a.Run("add", "-q", file))
	b.Run("streams", func(b *testing.B) { benchStreamsVsLlama(b, a, root, file, llamaServer) })
	b.Run("cold", func(b *testing.B) { benchCold(b, bin, a, root) })
}

// loadFigures are the medians of one server's runs of one load.
type loadFigures struct {
	aggregate  float64 // decode tokens/s of all streams together
	ttft       []float64
	promptToks int // as the server counted the prompt
}

// benchStreamsVsLlama runs each load of benchStreams on accel's daemon a
// (the model root, as pinned) and, with llamaServer, on llama-server
// serving file with as many slots, and prints the table.
func benchStreamsVsLlama(b *testing.B, a *daemontest.Accel, root, file, llamaServer string) {
	prompt := letterPrompt(benchPromptTokens)
	accelReq := map[string]any{"model": root, "prompt": prompt, "max_tokens": benchTokens, "temperature": 0,
		"stream": true, "stream_options": map[string]any{"include_usage": true}}
	// The synthetic model's weights are random: llama-server is kept from
	// ending at an end-of-generation token, and from the byte tokens
	// (ids 3–258), whose pieces of UTF-8 it would hold back.
	llamaReq := map[string]any{"model": filepath.Base(file), "ignore_eos": true, "cache_prompt": false}
	var bans [][2]any
	for id := 3; id < 259; id++ {
		bans = append(bans, [2]any{id, false})
	}
	llamaReq["logit_bias"] = bans
	for k, v := range accelReq {
		if k != "model" {
			llamaReq[k] = v
		}
	}

	mustLoad(b, a.API, accelReq, 1) // the daemon loads the model
	ours := map[int]loadFigures{}
	theirs := map[int]loadFigures{}
	for _, n := range benchStreams {
		var ls *daemontest.LlamaServer
		if llamaServer != "" {
			ls = daemontest.StartLlamaServer(b, llamaServer, "-m", file, "-np", strconv.Itoa(n),
				"-c", strconv.Itoa(n*2*(benchPromptTokens+benchTokens)), "-t", strconv.Itoa(runtime.NumCPU()))
			mustLoad(b, ls.URL, llamaReq, 1) // warm-up
		}
		var accelRuns, llamaRuns []loadRun
		for run := range benchRuns {
			r := mustLoad(b, a.API, accelReq, n)
			accelRuns = append(accelRuns, r)
			line := fmt.Sprintf("%d stream(s), run %d: accel %.1f tok/s, ttft p50 %.0f ms", n, run+1, r.aggregate(), percentile(r.ttfts(), 50))
			if ls != nil {
				r := mustLoad(b, ls.URL, llamaReq, n)
				llamaRuns = append(llamaRuns, r)
				line += fmt.Sprintf("; llama-server %.1f tok/s, ttft p50 %.0f ms", r.aggregate(), percentile(r.ttfts(), 50))
			}
			progress("%s", line)
		}
		ours[n] = figures(accelRuns)
		if ls != nil {
			theirs[n] = figures(llamaRuns)
			ls.Stop()
		}
	}

	fmt.Printf("%s: concurrent streamed completions of a %d-token prompt (%d to llama-server), %d greedy tokens each; medians of %d runs\n",
		filepath.Base(file), ours[1].promptToks, theirs[1].promptToks, benchTokens, benchRuns)
	fmt.Printf("aggregate decode tok/s of the streams; N/1: over one stream's; time to first token (ttft) over all runs' streams\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "streams\taccel tok/s\tllama-server tok/s\taccel/llama\taccel N/1\tllama N/1\taccel ttft p50/p95 ms\tllama ttft p50/p95 ms\t\n")
	for _, n := range benchStreams {
		o, t := ours[n], theirs[n]
		ttft := func(f loadFigures) string {
			return fmt.Sprintf("%.0f / %.0f", percentile(f.ttft, 50), percentile(f.ttft, 95))
		}
		if llamaServer == "" {
			fmt.Fprintf(tw, "%d\t%.1f\t–\t–\t%.2f×\t–\t%s\t–\t\n", n, o.aggregate, o.aggregate/ours[1].aggregate, ttft(o))
			continue
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.2f×\t%.2f×\t%.2f×\t%s\t%s\t\n", n, o.aggregate, t.aggregate, o.aggregate/t.aggregate,
			o.aggregate/ours[1].aggregate, t.aggregate/theirs[1].aggregate, ttft(o), ttft(t))
		b.ReportMetric(o.aggregate/t.aggregate, fmt.Sprintf("accel/llama-%d", n))
	}
	tw.Flush()
	if llamaServer == "" {
		fmt.Printf("llama-server was not given: set %s to a llama.cpp build directory (with bin/llama-server) to run it beside accel\n", daemontest.EnvLlamaCpp)
	}
	b.ReportMetric(ours[4].aggregate/ours[1].aggregate, "accel-4/1")
}

// benchCold times, in rounds, a pin add of root by a new daemon connected
// to src, and a request for root by CID to another new daemon connected
// to src: the time to its first token and until the model is pinned
// there. It prints the medians.
func benchCold(b *testing.B, bin string, src *daemontest.Accel, root string) {
	var pins, firsts, lasts []float64
	for round := range coldRounds {
		pin := newPeer(b, bin, src)
		start := time.Now()
		pin.Run("pin", "add", root)
		pins = append(pins, time.Since(start).Seconds())
		pin.Stop()

		cold := newPeer(b, bin, src)
		first, last := coldAnswer(b, cold, root)
		cold.Stop()
		firsts, lasts = append(firsts, first.Seconds()), append(lasts, last.Seconds())
		progress("cold round %d: pin add %.2fs; request: first token %.2fs, pinned %.2fs", round+1, pins[round], first.Seconds(), last.Seconds())
	}
	pin := median(pins)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "a daemon holding nothing, the model pinned on a connected peer; medians of %d rounds\t%8s\t%10s\n", coldRounds, "seconds", "of pin add")
	fmt.Fprintf(tw, "  pin add of the model\t%8.2f\t%9.0f%%\n", pin, 100.0)
	fmt.Fprintf(tw, "  request by CID: first token\t%8.2f\t%9.0f%%\n", median(firsts), 100*median(firsts)/pin)
	fmt.Fprintf(tw, "  request by CID: model pinned (last block)\t%8.2f\t%9.0f%%\n", median(lasts), 100*median(lasts)/pin)
	tw.Flush()
	b.ReportMetric(median(firsts)/pin, "cold-first/pin")
}

// newPeer starts a daemon on a new repo, connected to src.
func newPeer(tb testing.TB, bin string, src *daemontest.Accel) *daemontest.Accel {
	tb.Helper()
	d := daemontest.StartAccel(tb, bin, daemontest.NewRepo(tb, bin))
	d.Connect(src)
	return d
}

// coldAnswer asks d, which holds nothing, for a streamed completion of
// root by CID, and returns the time to its first token and until d lists
// root among its pins.
func coldAnswer(tb testing.TB, d *daemontest.Accel, root string) (first, pinned time.Duration) {
	tb.Helper()
	req := map[string]any{"model": root, "prompt": letterPrompt(benchPromptTokens), "max_tokens": coldTokens, "temperature": 0, "stream": true}
	start := time.Now()
	done := make(chan error, 1)
	var run streamRun
	go func() {
		var err error
		run, err = streamCompletion(context.Background(), d.API, req)
		done <- err
	}()
	for {
		if pinned == 0 && pinsInclude(tb, d, root) {
			pinned = time.Since(start)
		}
		select {
		case err := <-done:
			if err != nil {
				tb.Fatalf("cold request: %v\n%s", err, d.Log().Tail(2000))
			}
			done = nil
		default:
		}
		if done == nil && pinned > 0 {
			return run.pieces[0].Sub(run.sent), pinned
		}
		if time.Since(start) > 5*time.Minute {
			tb.Fatalf("cold request: not pinned after 5 minutes\n%s", d.Log().Tail(2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pinsInclude reports whether d's RPC API lists root among its pins.
func pinsInclude(tb testing.TB, d *daemontest.Accel, root string) bool {
	tb.Helper()
	resp, err := http.Post(d.API+"/api/v0/pin/ls", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("pin/ls: %s %v %s", resp.Status, err, body)
	}
	return bytes.Contains(body, []byte(root))
}

// loadRun is one load: its concurrent streams.
type loadRun []streamRun

// aggregate is the decode tokens/s of the streams together: the tokens
// each generated after its first, over the time from the earliest first
// token to the latest last one.
func (l loadRun) aggregate() float64 {
	var tokens int
	var from, to time.Time
	for i, s := range l {
		tokens += s.tokens - 1
		if first := s.pieces[0]; i == 0 || first.Before(from) {
			from = first
		}
		if last := s.pieces[len(s.pieces)-1]; last.After(to) {
			to = last
		}
	}
	return float64(tokens) / to.Sub(from).Seconds()
}

// ttfts are the streams' times to first token, in ms.
func (l loadRun) ttfts() []float64 {
	var out []float64
	for _, s := range l {
		out = append(out, float64(s.pieces[0].Sub(s.sent).Microseconds())/1e3)
	}
	return out
}

// figures are the median aggregate of runs and the times to first token
// of all their streams.
func figures(runs []loadRun) loadFigures {
	var f loadFigures
	var aggs []float64
	for _, r := range runs {
		aggs = append(aggs, r.aggregate())
		f.ttft = append(f.ttft, r.ttfts()...)
	}
	f.aggregate = median(aggs)
	f.promptToks = runs[0][0].promptTokens
	return f
}

// mustLoad sends n copies of req at once to the server at url, each
// streaming to its end, and checks that each generated max_tokens tokens.
func mustLoad(tb testing.TB, url string, req map[string]any, n int) loadRun {
	tb.Helper()
	run := make(loadRun, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { run[i], errs[i] = streamCompletion(context.Background(), url, req) })
	}
	wg.Wait()
	want := req["max_tokens"].(int)
	for i, err := range errs {
		if err == nil && run[i].tokens != want {
			err = fmt.Errorf("%d tokens generated, want %d", run[i].tokens, want)
		}
		if err != nil {
			tb.Fatalf("%s, stream %d of %d: %v", url, i+1, n, err)
		}
	}
	return run
}

// streamRun is one streamed completion as the client saw it: when it was
// sent, when each piece of text arrived, and the usage the server gave.
type streamRun struct {
	sent         time.Time
	pieces       []time.Time
	tokens       int
	promptTokens int
}

// benchClient keeps a connection per stream of the largest load.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// streamCompletion posts req (with "stream": true) to url's
// /v1/completions and reads the server-sent events to their end.
func streamCompletion(ctx context.Context, url string, req map[string]any) (streamRun, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return streamRun{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(body))
	if err != nil {
		return streamRun{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	run := streamRun{sent: time.Now()}
	resp, err := benchClient.Do(hr)
	if err != nil {
		return run, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return run, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	lines := bufio.NewReader(resp.Body)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return run, fmt.Errorf("the stream ended without [DONE]: %v", err)
		}
		data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			break
		}
		var chunk struct {
			Choices []struct{ Text string }
			Usage   *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return run, fmt.Errorf("event %q: %v", data, err)
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Text != "" {
			run.pieces = append(run.pieces, time.Now())
		}
		if u := chunk.Usage; u != nil {
			run.tokens, run.promptTokens = u.CompletionTokens, u.PromptTokens
		}
	}
	if len(run.pieces) == 0 {
		return run, fmt.Errorf("no text streamed")
	}
	return run, nil
}

// letterPrompt is n tokens for accel's tokenizer and llama.cpp's alike:
// BOS, then single letters, each one token ("▁a") in the synthetic
// model's vocabulary.
func letterPrompt(n int) string {
	words := make([]string, n-1)
	for i := range words {
		words[i] = string(rune('a' + i%26))
	}
	return strings.Join(words, " ")
}

// percentile is the p-th percentile of xs, nearest rank.
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func median(xs []float64) float64 { return percentile(xs, 50) }

// progress prints one measurement as the benchmark goes (b.Log keeps
// only a benchmark's first 10 lines).
func progress(format string, args ...any) {
	fmt.Printf("# "+format+"\n", args...)
}
