// Package generate turns a prompt into streamed text with a model, a
// tokenizer and a sampler: prefill the prompt in one batch, then decode one
// token at a time until a limit, an end-of-generation token or a stop
// sequence.
package generate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/sample"
)

// Options configure one generation.
type Options struct {
	MaxTokens int // new tokens to generate (0: until the context is full)
	Sample    sample.Options
	Stop      []string // generation ends before the first of these in the output
	Session   llama.SessionOptions
	// Resume, when set, is asked whether to go on after a forward pass
	// fails with err — a peer running offloaded layers went away, say. On
	// true, Run rebuilds what the session held in a new one, by running
	// the token history again in one batch (the Offload hook sees it from
	// position 0), and goes on where it stopped: the text already emitted
	// stands. Resume is asked after every failure, a failed rebuild's
	// included, so it alone bounds the tries: it must say false in the
	// end. A history longer than the context is not rebuilt.
	Resume func(err error) bool
}

// Stats describe a finished generation.
type Stats struct {
	PromptTokens int
	Tokens       int // generated tokens
	Prefill      time.Duration
	Decode       time.Duration
	Reason       string // "length", "eos", "stop" or "context"
}

// PrefillTokensPerSecond is the prompt processing rate.
func (s Stats) PrefillTokensPerSecond() float64 { return rate(s.PromptTokens, s.Prefill) }

// DecodeTokensPerSecond is the generation rate (one forward pass per token).
func (s Stats) DecodeTokensPerSecond() float64 { return rate(s.Tokens, s.Decode) }

func rate(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Run generates a continuation of prompt (BOS prepended), calling emit with
// each piece of text as soon as it is final. It stops early when ctx ends or
// emit returns an error.
func Run(ctx context.Context, m *llama.Model, prompt string, opts Options, emit func(text string) error) (Stats, error) {
	tok := m.Tokenizer
	tokens := tok.Encode(prompt, true, false)
	st := Stats{PromptTokens: len(tokens)}
	sess := m.NewSession(opts.Session)
	if len(tokens) >= sess.Context() && opts.Session.Window == 0 {
		return st, fmt.Errorf("generate: the prompt is %d tokens, the context holds %d", len(tokens), sess.Context())
	}
	sampler := sample.New(opts.Sample)
	stop := newStopFilter(opts.Stop, emit)

	history := tokens
	// forward runs the newest tokens of history, rebuilding the session
	// from the whole history when it fails and Resume says to go on.
	forward := func(newest []int) ([]float32, error) {
		logits, err := sess.Forward(newest)
		for err != nil && opts.Resume != nil && ctx.Err() == nil && len(history) <= sess.Context() && opts.Resume(err) {
			sess = m.NewSession(opts.Session)
			logits, err = sess.Forward(history)
		}
		return logits, err
	}

	start := time.Now()
	logits, err := forward(tokens)
	if err != nil {
		return st, err
	}
	st.Prefill = time.Since(start)
	start = time.Now()

	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if opts.MaxTokens > 0 && st.Tokens >= opts.MaxTokens {
			st.Reason = "length"
			break
		}
		if opts.Session.Window == 0 && sess.Pos >= sess.Context() {
			st.Reason = "context"
			break
		}
		next := sampler.Sample(logits, history)
		if tok.IsEOG(next) || next == tok.BOS() {
			st.Reason = "eos"
			break
		}
		st.Tokens++
		done, err := stop.write(tok.Decode(history[len(history)-1], next))
		if err != nil {
			return st, err
		}
		if done {
			st.Reason = "stop"
			break
		}
		history = append(history, next)
		if logits, err = forward([]int{next}); err != nil {
			return st, err
		}
	}
	st.Decode = time.Since(start)
	return st, stop.flush()
}

// stopFilter passes text through, holding back what could be the start of
// a stop sequence, and ends at the first complete one.
type stopFilter struct {
	stops []string
	held  string
	emit  func(string) error
}

func newStopFilter(stops []string, emit func(string) error) *stopFilter {
	var s []string
	for _, x := range stops {
		if x != "" {
			s = append(s, x)
		}
	}
	return &stopFilter{stops: s, emit: emit}
}

// write adds text and reports whether a stop sequence has appeared.
func (f *stopFilter) write(text string) (bool, error) {
	f.held += text
	cut := -1
	for _, s := range f.stops {
		if i := strings.Index(f.held, s); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		f.held = f.held[:cut]
		return true, f.flush()
	}
	keep := 0 // longest tail of held that starts some stop sequence
	for _, s := range f.stops {
		for n := min(len(s)-1, len(f.held)); n > keep; n-- {
			if strings.HasSuffix(f.held, s[:n]) {
				keep = n
				break
			}
		}
	}
	out := f.held[:len(f.held)-keep]
	f.held = f.held[len(f.held)-keep:]
	if out == "" {
		return false, nil
	}
	return false, f.emit(out)
}

// flush emits whatever is held.
func (f *stopFilter) flush() error {
	out := f.held
	f.held = ""
	if out == "" {
		return nil
	}
	return f.emit(out)
}
