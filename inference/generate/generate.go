// Package generate turns a prompt into streamed text with a model, a
// tokenizer and a sampler: prefill the prompt in one batch, then decode one
// token at a time until a limit, an end-of-generation token or a stop
// sequence.
package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
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
	// OnToken, when set, sees each token sampled, before its text goes
	// through the stop filter (which may hold it back a while, or drop it
	// as part of a stop sequence).
	OnToken func(Token)
	// Logprobs fills Token.Logprob, and TopLogprobs Token.Top with that
	// many alternatives: log-probabilities under the model's distribution,
	// before penalties and temperature.
	Logprobs    bool
	TopLogprobs int
}

// Token is one sampled token.
type Token struct {
	ID      int
	Text    string // its text after the previous token
	Logprob float32
	Top     []Candidate // most likely first
}

// Candidate is a token and its log-probability.
type Candidate struct {
	ID      int
	Logprob float32
}

// ErrPromptTooLong is returned when a prompt leaves no room in the
// context for a token.
var ErrPromptTooLong = errors.New("generate: the prompt does not fit the context")

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
// emit returns an error. It is a generation alone on an Engine of its own.
func Run(ctx context.Context, m *llama.Model, prompt string, opts Options, emit func(text string) error) (Stats, error) {
	return NewEngine(m).Run(ctx, prompt, opts, emit)
}

// Run is the package's Run on the engine's model, its decode steps shared
// with the other generations running.
func (e *Engine) Run(ctx context.Context, prompt string, opts Options, emit func(text string) error) (Stats, error) {
	m := e.model
	q := &sequence{engine: e}
	defer q.end()
	// While its text goes out, which may block, the steps go on without it
	// after a grace.
	if onToken := opts.OnToken; onToken != nil {
		opts.OnToken = func(t Token) { q.emit(); onToken(t) }
	}
	tok := m.Tokenizer
	tokens := tok.Encode(prompt, true, false)
	st := Stats{PromptTokens: len(tokens)}
	sess := m.NewSession(opts.Session)
	if len(tokens) >= sess.Context() && opts.Session.Window == 0 {
		return st, fmt.Errorf("%w: it is %d tokens, the context holds %d", ErrPromptTooLong, len(tokens), sess.Context())
	}
	sampler := sample.New(opts.Sample)
	stop := newStopFilter(opts.Stop, func(text string) error {
		q.emit()
		return emit(text)
	})

	history := tokens
	// forward runs the newest tokens of history, rebuilding the session
	// from the whole history when it fails and Resume says to go on.
	forward := func(newest []int) ([]float32, error) {
		logits, err := q.forward(sess, newest)
		for err != nil && opts.Resume != nil && ctx.Err() == nil && len(history) <= sess.Context() && opts.Resume(err) {
			sess = m.NewSession(opts.Session)
			logits, err = q.forward(sess, history)
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
		var lp logprobs
		if opts.Logprobs || opts.TopLogprobs > 0 {
			lp = newLogprobs(logits, opts.TopLogprobs)
		}
		next := sampler.Sample(logits, history)
		if tok.IsEOG(next) || next == tok.BOS() {
			st.Reason = "eos"
			break
		}
		st.Tokens++
		text := tok.Decode(history[len(history)-1], next)
		history = append(history, next)
		last := opts.MaxTokens > 0 && st.Tokens >= opts.MaxTokens
		// A session that holds its layers asks for the next token's step
		// before the text goes out, so that the step need not wait for the
		// write (the asking is for nothing when the text ends the
		// generation).
		var asked *decode
		if !last && sess.Local() {
			asked = q.ask(sess, []int{next})
		}
		if opts.OnToken != nil {
			opts.OnToken(lp.token(next, text))
		}
		done, err := stop.write(text)
		switch {
		case err != nil:
			return st, err
		case done:
			st.Reason = "stop"
		case last:
			st.Reason = "length"
		case asked != nil:
			logits, err = q.wait(asked)
		default:
			logits, err = forward([]int{next})
		}
		if err != nil {
			return st, err
		}
		if st.Reason != "" {
			break
		}
	}
	st.Decode = time.Since(start)
	return st, stop.flush()
}

// logprobs holds what a step's log-probabilities need from its logits
// before the sampler's penalties change them.
type logprobs struct {
	logits []float32 // a copy
	lse    float32   // log of the sum of their exponentials
	top    []Candidate
}

func newLogprobs(logits []float32, top int) logprobs {
	lp := logprobs{logits: slices.Clone(logits)}
	peak := lp.logits[sample.Argmax(lp.logits)]
	var sum float64
	for _, l := range lp.logits {
		sum += math.Exp(float64(l - peak))
	}
	lp.lse = peak + float32(math.Log(sum))
	for id, l := range lp.logits {
		if top == 0 {
			break
		}
		// after the candidates as likely, so that ties keep the lower id first
		i, _ := slices.BinarySearchFunc(lp.top, l-lp.lse, func(c Candidate, x float32) int {
			if c.Logprob >= x {
				return -1
			}
			return 1
		})
		if i < top {
			lp.top = slices.Insert(lp.top, i, Candidate{id, l - lp.lse})
			lp.top = lp.top[:min(len(lp.top), top)]
		}
	}
	return lp
}

// token is the Token for id, with its log-probability when lp was filled.
func (lp logprobs) token(id int, text string) Token {
	t := Token{ID: id, Text: text, Top: lp.top}
	if lp.logits != nil {
		t.Logprob = lp.logits[id] - lp.lse
	}
	return t
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
