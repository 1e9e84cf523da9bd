package generate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/llama"
)

const models = "../../../shared/models"

func open(t *testing.T, file string, opts llama.Options) *llama.Model {
	t.Helper()
	path := filepath.Join(models, file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("test model not present: %v", err)
	}
	m, err := llama.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func generate(t *testing.T, m *llama.Model, prompt string, opts Options) (string, Stats) {
	t.Helper()
	var out strings.Builder
	st, err := Run(context.Background(), m, prompt, opts, func(s string) error {
		out.WriteString(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), st
}

// referenceStory is the greedy continuation of "Once upon a time" by
// stories260K for 256 new tokens, as produced by a float32 C program that
// follows llama2.c's run.c step for step (token ids compared one by one),
// decoded with tok512.bin.
const referenceStory = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she said, \"I'm sorry, mom. I didn't know what to do.\" Her mom said, \"Don't worry, Lily. We can help you.\"\nLily"

func TestStoriesGreedyMatchesReference(t *testing.T) {
	for _, c := range []struct {
		file string
		opts llama.Options
	}{
		{"stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")}},
		{"stories260K-f32.gguf", llama.Options{}},
	} {
		t.Run(c.file, func(t *testing.T) {
			m := open(t, c.file, c.opts)
			// The GGUF records a context of 128 (llama.cpp's converter default);
			// like llama.cpp's -c, the session may hold more.
			opts := Options{MaxTokens: 256, Session: llama.SessionOptions{Context: 512}}
			got, st := generate(t, m, "Once upon a time", opts)
			if got != referenceStory {
				t.Fatalf("greedy story differs from the reference\n got: %q\nwant: %q", got, referenceStory)
			}
			if st.Tokens != 256 || st.Reason != "length" || st.PromptTokens != 5 {
				t.Fatalf("stats %+v, want 256 tokens, reason length, 5 prompt tokens", st)
			}
		})
	}
}

func TestStopSequence(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	full, _ := generate(t, m, "Once upon a time", Options{MaxTokens: 64})
	stop := "Lily"
	i := strings.Index(full, stop)
	if i < 0 {
		t.Fatalf("reference text has no %q: %q", stop, full)
	}
	got, st := generate(t, m, "Once upon a time", Options{MaxTokens: 64, Stop: []string{"zzz", stop}})
	if got != full[:i] || st.Reason != "stop" {
		t.Fatalf("with stop %q got %q (%s), want %q", stop, got, st.Reason, full[:i])
	}
}

func TestSeededSamplingIsDeterministic(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	opts := Options{MaxTokens: 48}
	opts.Sample.Temperature, opts.Sample.TopP, opts.Sample.TopK, opts.Sample.Seed = 1, 0.9, 40, 42
	a, _ := generate(t, m, "Once upon a time", opts)
	b, _ := generate(t, m, "Once upon a time", opts)
	opts.Sample.Seed = 43
	c, _ := generate(t, m, "Once upon a time", opts)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	if a == c {
		t.Fatalf("seeds 42 and 43 wrote the same 48 tokens: %q", a)
	}
}

func TestEmitErrorStops(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	boom := errors.New("reader went away")
	calls := 0
	_, err := Run(context.Background(), m, "Once", Options{MaxTokens: 50}, func(string) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls, want the emit error after 1", err, calls)
	}
}

func TestStopFilterHoldsPartialMatches(t *testing.T) {
	var out []string
	f := newStopFilter([]string{"END"}, func(s string) error { out = append(out, s); return nil })
	for _, piece := range []string{"ab", "cE", "N", "x", "yE", "ND", "more"} {
		if done, _ := f.write(piece); done {
			break
		}
	}
	if got := strings.Join(out, "|"); got != "ab|c|ENx|y" {
		t.Fatalf("emitted %q", got)
	}
}

// A generation whose offloaded layer fails part way goes on when Resume
// says so: the history is run again in a new session, from position 0 on
// the new remote end too, and the text is the same as with no failure.
// When Resume says no, Run returns the failure.
func TestResumeAfterOffloadFailure(t *testing.T) {
	opts := llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")}
	full := open(t, "stories260K.bin", opts)
	want, _ := generate(t, full, "Once upon a time", Options{MaxTokens: 60})

	part := open(t, "stories260K.bin", opts)
	last := part.Layers - 1
	if err := part.RemoveBlock(last); err != nil {
		t.Fatal(err)
	}
	var (
		remote     *llama.Session // the peer's session, nil once it failed
		calls      int
		failAt     = 20 // the offload call that fails
		resumedPos = -1 // the position the first call after it starts at
	)
	offload := func(from, to, pos int, h []float32) error {
		calls++
		if calls == failAt {
			remote = nil
			return errors.New("peer went away")
		}
		if remote == nil {
			remote = full.NewSession(llama.SessionOptions{})
			if calls > failAt {
				resumedPos = pos
			}
		}
		return remote.RunLayers(from, to, pos, h)
	}
	resumes := 0
	got, _ := generate(t, part, "Once upon a time", Options{
		MaxTokens: 60,
		Session:   llama.SessionOptions{Offload: offload},
		Resume:    func(error) bool { resumes++; return true },
	})
	if got != want || resumes != 1 || resumedPos != 0 {
		t.Fatalf("resumed %d times, from position %d: got %q, want %q", resumes, resumedPos, got, want)
	}

	calls, remote = 0, nil
	var out strings.Builder
	_, err := Run(context.Background(), part, "Once upon a time", Options{
		MaxTokens: 60,
		Session:   llama.SessionOptions{Offload: offload},
		Resume:    func(error) bool { return false },
	}, func(s string) error { out.WriteString(s); return nil })
	if err == nil || !strings.Contains(err.Error(), "peer went away") || !strings.HasPrefix(want, out.String()) || out.Len() == 0 {
		t.Fatalf("with no resume: %v, after %q", err, out.String())
	}
}

// TestOnToken checks what OnToken sees of a greedy generation: every token,
// whose texts make the output, each the most likely of its step, with
// log-probabilities in order.
func TestOnToken(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	var tokens []Token
	opts := Options{MaxTokens: 32, Logprobs: true, TopLogprobs: 3, OnToken: func(tk Token) { tokens = append(tokens, tk) }}
	out, st := generate(t, m, "Once upon a time", opts)
	if len(tokens) != st.Tokens || st.Tokens != 32 {
		t.Fatalf("OnToken saw %d tokens, stats say %d", len(tokens), st.Tokens)
	}
	var text strings.Builder
	for i, tk := range tokens {
		text.WriteString(tk.Text)
		if len(tk.Top) != 3 || tk.Top[0].ID != tk.ID || tk.Top[0].Logprob != tk.Logprob || tk.Logprob > 0 {
			t.Fatalf("token %d: %+v is not the most likely of its step", i, tk)
		}
		if tk.Top[1].Logprob > tk.Top[0].Logprob || tk.Top[2].Logprob > tk.Top[1].Logprob {
			t.Fatalf("token %d: alternatives out of order: %+v", i, tk.Top)
		}
	}
	if text.String() != out || !strings.HasPrefix(referenceStory, out) {
		t.Fatalf("the tokens' texts make %q, the output is %q", text.String(), out)
	}
}

func TestPromptTooLong(t *testing.T) {
	m := open(t, "stories260K.bin", llama.Options{Tokenizer: filepath.Join(models, "tok512.bin")})
	_, err := Run(context.Background(), m, strings.Repeat("Once upon a time ", 10), Options{Session: llama.SessionOptions{Context: 16}},
		func(string) error { return nil })
	if !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("error %v, want ErrPromptTooLong", err)
	}
}
