package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

const models = "../../shared/models"

// prompt and story: how stories260K continues a prompt greedily.
var (
	prompt = "Once upon a time"
	story  = strings.TrimPrefix(daemontest.StoryStart, prompt)
)

// fixture is a Server over a repo holding stories260K, pinned as
// "stories", behind the API listener's guard without a token.
type fixture struct {
	repo *node.Repo
	srv  *Server
	reg  *prometheus.Registry
	url  string
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		t.Skipf("test model not present: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	if _, err := node.Init(dir, node.ProfileTest); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := node.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	src := loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")}
	if _, _, err := r.Add(ctx, src, "stories", loader.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{repo: r, reg: prometheus.NewRegistry()}
	f.srv = New(r, f.reg, opts)
	ts := httptest.NewServer(Protect("", f.srv))
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// post sends body as JSON and returns the status and the answer.
func (f *fixture) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(f.url+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// metric is the sum of the values of a metric's series whose labels
// include labels.
func (f *fixture) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// waitMetric waits until a metric reaches want.
func (f *fixture) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.metric(t, name, labels...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v is %v, want %v", name, labels, f.metric(t, name, labels...), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type completion struct {
	Choices []struct {
		Text    string
		Message struct{ Role, Content string }
		Delta   struct {
			Role    string
			Content *string
		}
		Logprobs     json.RawMessage
		FinishReason *string `json:"finish_reason"`
	}
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
}

func decodeAs[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

func TestCompletionsAndChat(t *testing.T) {
	f := newFixture(t, Options{})
	status, body := f.post(t, "/v1/completions", map[string]any{"model": "stories", "prompt": prompt, "max_tokens": 20, "temperature": 0, "logprobs": 2})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	c := decodeAs[completion](t, body)
	text := c.Choices[0].Text
	if !strings.HasPrefix(story, text) && !strings.HasPrefix(text, story) || len(text) < 20 {
		t.Fatalf("completion %q does not continue the story %q", text, story)
	}
	if *c.Choices[0].FinishReason != "length" || c.Usage.PromptTokens != 5 || c.Usage.CompletionTokens != 20 || c.Usage.TotalTokens != 25 {
		t.Fatalf("finish %s, usage %+v; want length, 5+20 tokens", *c.Choices[0].FinishReason, *c.Usage)
	}
	lp := decodeAs[completionLogprobs](t, c.Choices[0].Logprobs)
	if len(lp.Tokens) != 20 || strings.Join(lp.Tokens, "") != text || len(lp.TopLogprobs[0]) != 2 || lp.TextOffset[1] != len(lp.Tokens[0]) {
		t.Fatalf("logprobs %+v do not describe %q", lp, text)
	}

	// A base model's chat prompt is the messages' contents.
	status, body = f.post(t, "/v1/chat/completions", map[string]any{"model": "stories", "messages": []map[string]string{{"role": "user", "content": prompt}},
		"max_completion_tokens": 20, "temperature": 0})
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	c = decodeAs[completion](t, body)
	if m := c.Choices[0].Message; m.Role != "assistant" || m.Content != text || c.Usage.CompletionTokens != 20 {
		t.Fatalf("chat answered %+v, usage %+v; want %q", m, *c.Usage, text)
	}

	// The models, by pin name and CID; a CID names a model too.
	resp, err := http.Get(f.url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	list := decodeAs[struct {
		Object string
		Data   []modelInfo
	}](t, data)
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "stories" || list.Data[0].Object != "model" {
		t.Fatalf("models %s", data)
	}
	status, body = f.post(t, "/v1/completions", map[string]any{"model": list.Data[0].CID, "prompt": prompt, "max_tokens": 20, "temperature": 0})
	if c := decodeAs[completion](t, body); status != http.StatusOK || c.Choices[0].Text != text {
		t.Fatalf("by CID: %d %s", status, body)
	}
	if got := f.metric(t, "accel_inference_requests_total", "outcome", "ok"); got != 3 {
		t.Fatalf("%v requests counted ok, want 3", got)
	}
	if got := f.metric(t, "accel_inference_completion_tokens_total"); got != 60 {
		t.Fatalf("%v completion tokens counted, want 60", got)
	}
}

// events reads a stream of server-sent events up to [DONE].
func events(t *testing.T, r io.Reader) []completion {
	t.Helper()
	var out []completion
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			return out
		}
		out = append(out, decodeAs[completion](t, []byte(data)))
	}
	t.Fatalf("the stream ended without [DONE]: %v", sc.Err())
	return nil
}

func TestStreams(t *testing.T) {
	f := newFixture(t, Options{})
	for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
		body := map[string]any{"model": "stories", "max_tokens": 20, "temperature": 0, "stream": true, "stream_options": map[string]bool{"include_usage": true}}
		if path == "/v1/completions" {
			body["prompt"] = prompt
		} else {
			body["messages"] = []map[string]string{{"role": "user", "content": prompt}}
		}
		data, _ := json.Marshal(body)
		resp, err := http.Post(f.url+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
			t.Fatalf("%s: %s, %s", path, resp.Status, ct)
		}
		chunks := events(t, resp.Body)
		resp.Body.Close()
		var text strings.Builder
		for _, c := range chunks[:len(chunks)-1] {
			text.WriteString(c.Choices[0].Text)
			if c.Choices[0].Delta.Content != nil {
				text.WriteString(*c.Choices[0].Delta.Content)
			}
		}
		last, final := chunks[len(chunks)-1], chunks[len(chunks)-2]
		if !strings.HasPrefix(story, text.String()) || *final.Choices[0].FinishReason != "length" {
			t.Fatalf("%s: streamed %q, finish %v", path, text.String(), final.Choices[0].FinishReason)
		}
		if len(last.Choices) != 0 || last.Usage == nil || last.Usage.PromptTokens != 5 || last.Usage.CompletionTokens != 20 {
			t.Fatalf("%s: last chunk %+v, want the usage alone", path, last)
		}
		if path == "/v1/chat/completions" && chunks[0].Choices[0].Delta.Role != "assistant" {
			t.Fatalf("the first chunk %+v does not say the role", chunks[0])
		}
	}
}

// TestDisconnectStopsGeneration reads the first chunk of a long stream and
// hangs up: the generation stops, counted as cancelled.
func TestDisconnectStopsGeneration(t *testing.T) {
	f := newFixture(t, Options{})
	data, _ := json.Marshal(map[string]any{"model": "stories", "prompt": prompt, "max_tokens": 500, "temperature": 0, "stream": true})
	resp, err := http.Post(f.url+"/v1/completions", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp.Body.Close()
	f.waitMetric(t, 1, "accel_inference_requests_total", "api", "completions", "outcome", "cancelled")
	if n := f.metric(t, "accel_inference_completion_tokens_total"); n >= 500 {
		t.Fatalf("%v tokens generated for a client that left", n)
	}
}

// errorOf is an answer's OpenAI error.
func errorOf(t *testing.T, body []byte) apiError {
	t.Helper()
	e := decodeAs[struct{ Error *apiError }](t, body)
	if e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	return *e.Error
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestErrors(t *testing.T) {
	f := newFixture(t, Options{})
	long := strings.Repeat("Once upon a time ", 200)
	for _, c := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		param  string
		code   string
	}{
		{"unknown model", "/v1/completions", map[string]any{"model": "nope", "prompt": "x"}, 404, "model", "model_not_found"},
		{"unknown CID", "/v1/chat/completions", map[string]any{"model": "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje",
			"messages": []map[string]string{{"role": "user", "content": "x"}}}, 404, "model", "model_not_found"},
		{"prompt over the context", "/v1/completions", map[string]any{"model": "stories", "prompt": long}, 400, "prompt", "context_length_exceeded"},
		{"chat over the context", "/v1/chat/completions", map[string]any{"model": "stories",
			"messages": []map[string]string{{"role": "user", "content": long}}, "stream": true}, 400, "messages", "context_length_exceeded"},
		{"n", "/v1/completions", map[string]any{"model": "stories", "prompt": "x", "n": 2}, 400, "n", "invalid_value"},
		{"temperature", "/v1/chat/completions", map[string]any{"model": "stories", "temperature": 3,
			"messages": []map[string]string{{"role": "user", "content": "x"}}}, 400, "temperature", "invalid_value"},
		{"stop", "/v1/completions", map[string]any{"model": "stories", "prompt": "x", "stop": 7}, 400, "stop", "invalid_value"},
		{"max_tokens", "/v1/completions", map[string]any{"model": "stories", "prompt": "x", "max_tokens": 0}, 400, "max_tokens", "invalid_value"},
	} {
		status, body := f.post(t, c.path, c.body)
		e := errorOf(t, body)
		if status != c.status || str(e.Param) != c.param || str(e.Code) != c.code {
			t.Errorf("%s: %d %s, want %d with param %s, code %s", c.name, status, body, c.status, c.param, c.code)
		}
	}
}

func TestTokenAndOrigin(t *testing.T) {
	f := newFixture(t, Options{})
	ts := httptest.NewServer(Protect("secret", f.srv))
	defer ts.Close()
	for _, c := range []struct {
		header, value string
		status        int
	}{
		{"", "", http.StatusUnauthorized},
		{"Authorization", "Bearer wrong", http.StatusUnauthorized},
		{"Authorization", "Bearer secret", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/models", nil)
		if c.header != "" {
			req.Header.Set(c.header, c.value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("%s %q: %d %s, want %d", c.header, c.value, resp.StatusCode, body, c.status)
		}
		if c.status == http.StatusUnauthorized && str(errorOf(t, body).Code) != "invalid_api_key" {
			t.Fatalf("401 says %s", body)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+"/v1/models", nil)
	req.Header.Set("Origin", "http://example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a web page got %d %s", resp.StatusCode, body)
	}
	errorOf(t, body)
}

// dial opens the WebSocket stream.
func (f *fixture) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.url, "http")+StreamPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// streamMessage is any message of the stream.
type streamMessage struct {
	Type            string  `json:"type"`
	Token           string  `json:"token"`
	Message         string  `json:"message"`
	FinishReason    string  `json:"finish_reason"`
	TokensGenerated int     `json:"tokens_generated"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	MemoryMB        float64 `json:"memory_mb"`
	Timing          *struct {
		GenerationMS    float64 `json:"generation_ms"`
		StreamLatencyMS float64 `json:"stream_latency_ms"`
	} `json:"timing"`
}

func read(t *testing.T, conn *websocket.Conn, within time.Duration) (streamMessage, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	var m streamMessage
	err := conn.ReadJSON(&m)
	return m, err
}

func send(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	if err := conn.WriteJSON(v); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocketPauseResume pauses a generation as it starts, resumes it,
// and reads it to the end. Some tokens may go out before the pause lands
// (the client's messages race the generation, and how many tokens the
// small model makes meanwhile depends on the machine), so the paused one
// asks for far more tokens than that and must fall silent well before its
// end, with no complete message. The second generation is paused for
// 600 ms and resumed: a token held by the pause and a metrics message show
// it, and the text is the same.
func TestWebSocketPauseResume(t *testing.T) {
	f := newFixture(t, Options{})
	conn := f.dial(t)
	const long = 200
	send(t, conn, map[string]any{"prompt": prompt, "model": "stories", "max_tokens": long, "temperature": 0})
	send(t, conn, map[string]string{"type": "pause"})
	f.waitMetric(t, 1, "accel_inference_time_to_first_token_seconds")
	for tokens := 0; ; {
		m, err := read(t, conn, 600*time.Millisecond)
		if err != nil {
			break // silence: paused
		}
		if tokens++; m.Type != "token" || tokens >= long/2 {
			t.Fatalf("a paused generation sent %+v (message %d)", m, tokens)
		}
	}
	// A read past its deadline breaks a gorilla connection: hang up (which
	// ends the generation) and dial again.
	conn.Close()
	conn = f.dial(t)
	send(t, conn, map[string]any{"prompt": prompt, "model": "stories", "max_tokens": long, "temperature": 0})
	send(t, conn, map[string]string{"type": "pause"})
	time.Sleep(600 * time.Millisecond)
	send(t, conn, map[string]string{"type": "resume"})
	var text strings.Builder
	var sawMetrics, held bool
	for {
		m, err := read(t, conn, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case "token":
			if m.Timing == nil || m.Timing.GenerationMS < 0 {
				t.Fatalf("token without timing: %+v", m)
			}
			text.WriteString(m.Token)
			held = held || m.Timing.StreamLatencyMS >= 500
			continue
		case "metrics":
			sawMetrics = m.MemoryMB > 0 && m.TokensPerSecond > 0
			continue
		case "complete":
		default:
			t.Fatalf("unexpected %+v", m)
		}
		if m.FinishReason != "length" || m.TokensGenerated != long {
			t.Fatalf("complete %+v", m)
		}
		break
	}
	if !held {
		t.Fatal("no token was held by a pause of 600 ms")
	}
	if !strings.HasPrefix(story, text.String()) && !strings.HasPrefix(text.String(), story) {
		t.Fatalf("streamed %q", text.String())
	}
	if !sawMetrics {
		t.Fatal("no metrics message after a pause of 600 ms")
	}
}

// TestWebSocketCancelAndQueue holds the model with a paused generation:
// one request waits for it, the next is refused (429); a cancel ends the
// paused one and lets the waiting one run.
func TestWebSocketCancelAndQueue(t *testing.T) {
	f := newFixture(t, Options{MaxActive: 1, MaxWaiting: 1})
	conn, waited := f.pauseOneQueueOne(t)
	status, body := f.post(t, "/v1/completions", map[string]any{"model": "stories", "prompt": prompt, "max_tokens": 5})
	if e := errorOf(t, body); status != http.StatusTooManyRequests || str(e.Code) != "rate_limit_exceeded" {
		t.Fatalf("a request over the queue got %d %s", status, body)
	}

	send(t, conn, map[string]string{"type": "cancel"})
	m, err := read(t, conn, 10*time.Second)
	if err != nil || m.Type != "complete" || m.FinishReason != "cancelled" || m.TokensGenerated > 1 {
		t.Fatalf("after cancel: %+v %v", m, err)
	}
	if status := <-waited; status != http.StatusOK {
		t.Fatalf("the waiting request got %d", status)
	}
	f.waitMetric(t, 1, "accel_inference_requests_total", "api", "stream", "outcome", "cancelled")

	// The connection takes the next request; errors come as messages.
	send(t, conn, map[string]any{"prompt": prompt, "model": "nope"})
	if m, err := read(t, conn, 10*time.Second); err != nil || m.Type != "error" || !strings.Contains(m.Message, "nope") {
		t.Fatalf("unknown model: %+v %v", m, err)
	}
}

// TestConcurrentCompletions runs greedy completions of one model at once
// and checks each against the same request alone.
func TestConcurrentCompletions(t *testing.T) {
	f := newFixture(t, Options{})
	reqs := []map[string]any{
		{"model": "stories", "prompt": prompt, "max_tokens": 40, "temperature": 0},
		{"model": "stories", "prompt": "Lily and Ben", "max_tokens": 15, "temperature": 0},
		{"model": "stories", "prompt": "The dog", "max_tokens": 60, "temperature": 0},
		{"model": "stories", "prompt": "One day", "max_tokens": 30, "temperature": 0},
	}
	text := func(req map[string]any) string {
		status, body := f.post(t, "/v1/completions", req)
		if status != http.StatusOK {
			t.Errorf("%d %s", status, body)
			return ""
		}
		return decodeAs[completion](t, body).Choices[0].Text
	}
	together := make([]string, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() { together[i] = text(req) })
	}
	wg.Wait()
	for i, req := range reqs {
		if alone := text(req); together[i] != alone {
			t.Errorf("%q together:\n%q\nalone:\n%q", req["prompt"], together[i], alone)
		}
	}
}

// TestGenerationsListed holds the model with a paused generation and a
// request waiting for it: the dashboard's list shows the generation, its
// model and its first token, and counts the waiting request; once both
// end the list is empty.
func TestGenerationsListed(t *testing.T) {
	f := newFixture(t, Options{MaxActive: 1, MaxWaiting: 1})
	root, err := f.srv.resolve(context.Background(), "stories")
	if err != nil {
		t.Fatal(err)
	}
	conn, waited := f.pauseOneQueueOne(t)

	running, waiting := f.srv.Generations()
	if len(running) != 1 || waiting != 1 {
		t.Fatalf("%d generations listed, %d waiting; want 1 and 1", len(running), waiting)
	}
	if g := running[0]; g.CID != root.String() || g.API != "stream" || g.Tokens != 1 || g.Elapsed <= 0 || g.RemoteLayers != 0 {
		t.Errorf("generation %+v: want the stream of %s at its first token, all layers local", g, root)
	}

	send(t, conn, map[string]string{"type": "cancel"})
	if status := <-waited; status != http.StatusOK {
		t.Fatalf("the waiting request got %d", status)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		running, waiting = f.srv.Generations()
		if len(running) == 0 && waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after both ended: %+v listed, %d waiting", running, waiting)
		}
	}
}

// pauseOneQueueOne starts a WebSocket generation on f, pauses it after its
// first token, and queues a completion behind it (f runs one generation at
// a time): it returns the paused stream's connection and a channel that
// gets the queued request's status once it ends.
func (f *fixture) pauseOneQueueOne(t *testing.T) (*websocket.Conn, chan int) {
	t.Helper()
	conn := f.dial(t)
	send(t, conn, map[string]any{"prompt": prompt, "model": "stories", "max_tokens": 40, "temperature": 0})
	send(t, conn, map[string]string{"type": "pause"})
	f.waitMetric(t, 1, "accel_inference_time_to_first_token_seconds")
	waited := make(chan int)
	go func() {
		status, _ := f.post(t, "/v1/completions", map[string]any{"model": "stories", "prompt": prompt, "max_tokens": 5})
		waited <- status
	}()
	f.waitMetric(t, 1, "accel_inference_queue_depth")
	return conn, waited
}
