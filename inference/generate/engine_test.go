package generate

import (
	"context"
	"errors"
	"path/filepath"
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
