package generate

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/inference/llama"
)

// TestEngineMatchesSolo runs four greedy generations of different prompts
// and lengths at once, one of them cancelled half-way, and checks that
// they shared decode steps and that each finished one wrote what it writes
// alone.
func TestEngineMatchesSolo(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	jobs := []struct {
		prompt string
		opts   Options
		cancel int // tokens after which the client goes away (0: never)
	}{
		{"Once upon a time", Options{MaxTokens: 60}, 0},
		{"Lily and Ben", Options{MaxTokens: 25}, 0},
		{"The dog", Options{MaxTokens: 90}, 10},
		{"One day, a little bird", Options{MaxTokens: 45}, 0},
	}
	e := NewEngine(m)
	var start sync.WaitGroup // holds every sequence's first token until all have prefilled
	start.Add(len(jobs))
	out := make([]strings.Builder, len(jobs))
	stats := make([]Stats, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := j.opts
			n := 0
			opts.OnToken = func(Token) {
				if n++; n == 1 {
					start.Done()
					start.Wait()
				}
				if n == j.cancel {
					cancel()
				}
			}
			stats[i], errs[i] = e.Run(ctx, j.prompt, opts, func(s string) error {
				out[i].WriteString(s)
				return nil
			})
		})
	}
	wg.Wait()

	tokens := 0
	for i, j := range jobs {
		tokens += stats[i].Tokens
		if j.cancel > 0 {
			if errs[i] != context.Canceled || stats[i].Tokens != j.cancel {
				t.Errorf("cancelled sequence: %d tokens, error %v; want %d tokens, %v", stats[i].Tokens, errs[i], j.cancel, context.Canceled)
			}
			continue
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if want, _ := generate(t, m, j.prompt, j.opts); out[i].String() != want {
			t.Errorf("%q together:\n%q\nalone:\n%q", j.prompt, out[i].String(), want)
		}
	}
	t.Logf("%d tokens in %d decode steps", tokens, e.steps)
	if e.steps >= tokens || e.steps < jobs[0].opts.MaxTokens {
		t.Errorf("%d decode steps for %d tokens: want them shared", e.steps, tokens)
	}
}

// TestEngineBlockedClient holds one generation's text in its writer until
// another generation has finished: the steps must go on without the
// blocked one, and both must write what they write alone.
func TestEngineBlockedClient(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	e := NewEngine(m)
	var start sync.WaitGroup // holds each first token until both have prefilled
	start.Add(2)
	opts := Options{MaxTokens: 30}
	together := func() Options {
		o, first := opts, true
		o.OnToken = func(Token) {
			if first {
				first = false
				start.Done()
				start.Wait()
			}
		}
		return o
	}
	freeDone := make(chan struct{})
	var blocked, free strings.Builder
	var wg sync.WaitGroup
	var blockedErr, freeErr error
	wg.Go(func() {
		n := 0
		_, blockedErr = e.Run(context.Background(), "Once upon a time", together(), func(s string) error {
			if n++; n == 2 {
				select {
				case <-freeDone:
				case <-time.After(time.Minute):
					return errors.New("the other generation did not finish while this one's writer was blocked")
				}
			}
			blocked.WriteString(s)
			return nil
		})
	})
	wg.Go(func() {
		defer close(freeDone)
		_, freeErr = e.Run(context.Background(), "Lily and Ben", together(), func(s string) error {
			free.WriteString(s)
			return nil
		})
	})
	wg.Wait()
	if blockedErr != nil || freeErr != nil {
		t.Fatalf("blocked writer: %v; free writer: %v", blockedErr, freeErr)
	}
	for prompt, got := range map[string]string{"Once upon a time": blocked.String(), "Lily and Ben": free.String()} {
		if want, _ := generate(t, m, prompt, opts); got != want {
			t.Errorf("%q with a blocked neighbour:\n%q\nalone:\n%q", prompt, got, want)
		}
	}
}

// TestGraceCountsOnlyWhileOthersWait checks when a sequence whose text is
// going out leaves the steps: not while a pass runs (it may not have had a
// core to ask on) nor while no one waits, but once others wait for a step.
func TestGraceCountsOnlyWhileOthersWait(t *testing.T) {
	e := NewEngine(nil)
	q := &sequence{engine: e, member: true, emitting: true}
	e.members = 2
	q.late = time.AfterFunc(time.Hour, func() {})
	defer q.late.Stop()

	e.busy = true
	e.asked = []*decode{{}}
	q.graceOver()
	if !q.member || e.members != 2 {
		t.Fatal("left the steps while a pass was running")
	}
	e.busy, e.asked = false, nil
	q.graceOver()
	if !q.member {
		t.Fatal("left the steps while no one waited for one")
	}
	e.asked = []*decode{{}}
	q.graceOver()
	if q.member || e.members != 1 {
		t.Fatal("stayed in the steps while another sequence waited for one")
	}
}

// TestEnginePromptsShareAStep holds the engine busy while four generations
// ask for their prompts' passes: the four prompts must then run as one
// step (each sequence's first token comes from step 1), and each
// generation must write what it writes alone.
func TestEnginePromptsShareAStep(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	prompts := []string{"Once upon a time", "Lily and Ben", "The dog", "One day, a little bird"}
	e := NewEngine(m)
	e.mu.Lock()
	e.busy = true
	e.mu.Unlock()
	opts := Options{MaxTokens: 20}
	out := make([]strings.Builder, len(prompts))
	firstStep := make([]int, len(prompts))
	errs := make([]error, len(prompts))
	var start sync.WaitGroup // holds each first token until all have theirs
	start.Add(len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Go(func() {
			o, first := opts, true
			o.OnToken = func(Token) {
				if first {
					first = false
					e.mu.Lock()
					firstStep[i] = e.steps
					e.mu.Unlock()
					start.Done()
					start.Wait()
				}
			}
			_, errs[i] = e.Run(context.Background(), p, o, func(s string) error {
				out[i].WriteString(s)
				return nil
			})
		})
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		e.mu.Lock()
		n := e.prompts
		if n == len(prompts) {
			e.busy = false
			e.wake.Broadcast()
		}
		e.mu.Unlock()
		if n == len(prompts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d prompts asked for a step", n, len(prompts))
		}
	}
	wg.Wait()
	for i, p := range prompts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if firstStep[i] != 1 {
			t.Errorf("%q: first token from step %d, want 1 (the prompts' shared step)", p, firstStep[i])
		}
		if want, _ := generate(t, m, p, opts); out[i].String() != want {
			t.Errorf("%q with the others:\n%q\nalone:\n%q", p, out[i].String(), want)
		}
	}
}

// TestEngineBadInputFailsOnlyItsOwn puts a prompt with a token outside the
// vocabulary in the same step as a good one: the bad one gets an error,
// the good one the logits it gets alone.
func TestEngineBadInputFailsOnlyItsOwn(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	e := NewEngine(m)
	e.mu.Lock()
	e.busy = true
	e.mu.Unlock()
	good, bad := []int{1, 400, 300, 200}, []int{1, 400, m.Vocab + 5}
	var goodLogits []float32
	var goodErr, badErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		q := &sequence{engine: e}
		goodLogits, goodErr = q.forward(m.NewSession(llama.SessionOptions{}), good)
	})
	wg.Go(func() {
		q := &sequence{engine: e}
		_, badErr = q.forward(m.NewSession(llama.SessionOptions{}), bad)
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		e.mu.Lock()
		n := e.prompts
		if n == 2 {
			e.busy = false
			e.wake.Broadcast()
		}
		e.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prompts did not ask for a step")
		}
	}
	wg.Wait()
	if badErr == nil {
		t.Error("a token outside the vocabulary ran")
	}
	want, err := m.NewSession(llama.SessionOptions{}).Forward(good)
	if goodErr != nil || err != nil || !slices.Equal(goodLogits, want) {
		t.Errorf("the good prompt beside a bad one: %v (alone: %v), same logits: %v", goodErr, err, slices.Equal(goodLogits, want))
	}
}

// TestEngineAskBeforeWrite: a sequence asks for its next token's step and
// goes on (to write its text) without waiting; another sequence's wait then
// runs the step with both tokens, and the first one's wait returns its
// logits at once, the ones it gets alone.
func TestEngineAskBeforeWrite(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	e := NewEngine(m)
	a, b := &sequence{engine: e}, &sequence{engine: e}
	prompt := []int{1, 400, 300, 200}
	sa, sb, solo := m.NewSession(llama.SessionOptions{}), m.NewSession(llama.SessionOptions{}), m.NewSession(llama.SessionOptions{})
	for _, s := range []*llama.Session{sa, sb, solo} {
		if _, err := s.Forward(prompt); err != nil {
			t.Fatal(err)
		}
	}
	asked := a.ask(sa, []int{250})
	if _, err := b.forward(sb, []int{260}); err != nil {
		t.Fatal(err)
	}
	if !asked.done || e.steps != 1 {
		t.Fatalf("the other sequence's step left out the asked token (done %v, %d steps)", asked.done, e.steps)
	}
	got, err := a.wait(asked)
	want, err2 := solo.Forward([]int{250})
	if err != nil || err2 != nil || !slices.Equal(got, want) {
		t.Fatalf("asked token: %v, alone: %v, same logits: %v", err, err2, slices.Equal(got, want))
	}
}

// TestEngineWithdrawsUnusedAsk ends a generation from its writer (a
// client gone) after it has asked for its next token's step: the ask must
// not stay in the engine, holding the session, for a later step to run.
func TestEngineWithdrawsUnusedAsk(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	e := NewEngine(m)
	gone := errors.New("client gone")
	n := 0
	_, err := e.Run(context.Background(), "Once upon a time", Options{MaxTokens: 20}, func(string) error {
		if n++; n == 3 {
			return gone
		}
		return nil
	})
	if !errors.Is(err, gone) {
		t.Fatalf("the writer's error: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.asked) != 0 || e.prompts != 0 || e.members != 0 {
		t.Errorf("after the generation ended: %d asks, %d prompts, %d members left in the engine", len(e.asked), e.prompts, e.members)
	}
}
