package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// openaiClient is the official openai npm client's test directory.
const openaiClient = "../../serve/testdata/openai-client"

// npmCI installs the openai client unless node_modules is current.
func npmCI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	installed, err := os.Stat(filepath.Join(openaiClient, "node_modules", ".package-lock.json"))
	lock, lerr := os.Stat(filepath.Join(openaiClient, "package-lock.json"))
	if lerr != nil {
		t.Fatal(lerr)
	}
	if err == nil && !lock.ModTime().After(installed.ModTime()) {
		return
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = openaiClient
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

type usage struct {
	Prompt     int `json:"prompt_tokens"`
	Completion int `json:"completion_tokens"`
	Total      int `json:"total_tokens"`
}

type answered struct {
	Text   string
	Role   string
	Finish string
	Usage  usage
}

// The daemon serves its pinned models to the official openai client: greedy
// completions and chats of stories260K continue the reference story, whole
// and streamed, with the right token counts; a client that hangs up stops
// its generation. curl reads a stream from the gateway, where the config
// switch serves the API too.
func TestInferenceAPI(t *testing.T) {
	needModels(t)
	npmCI(t)
	repo := newRepo(t)
	repoRun(t, repo, "add", "-q", "--name", "stories", filepath.Join(models, "stories260K.bin"), "--tokenizer", filepath.Join(models, "tok512.bin"))
	if pins := repoRun(t, repo, "pin", "ls"); !strings.Contains(pins, " recursive stories\n") {
		t.Fatalf("pin ls does not show the name:\n%s", pins)
	}
	setConfig(t, repo, func(c map[string]any) { c["Gateway"] = map[string]any{"ServeInference": true} })
	d := startDaemon(t, repo)

	client := exec.Command("node", "client.mjs", d.API+"/v1", "stories")
	client.Dir = openaiClient
	client.Stderr = os.Stderr
	out, err := client.Output()
	if err != nil {
		t.Fatalf("the openai client: %v\n%s", err, out)
	}
	var got struct {
		Models                                         []string
		Completion, Chat, CompletionStream, ChatStream answered
		Abandoned                                      string
		NotFound                                       struct {
			Status            int
			Code, Param, Type string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Models) != 1 || got.Models[0] != "stories" {
		t.Errorf("models %v, want [stories]", got.Models)
	}
	for name, a := range map[string]answered{"completion": got.Completion, "chat": got.Chat, "completion stream": got.CompletionStream, "chat stream": got.ChatStream} {
		story := "Once upon a time" + a.Text
		if !strings.HasPrefix(daemontest.StoryStart, story) && !strings.HasPrefix(story, daemontest.StoryStart) {
			t.Errorf("%s: %q is not the reference story %q", name, a.Text, daemontest.StoryStart)
		}
		if a.Finish != "length" || a.Usage != (usage{5, 30, 35}) {
			t.Errorf("%s: finish %q, usage %+v; want length, 5 + 30 tokens", name, a.Finish, a.Usage)
		}
	}
	if got.Chat.Role != "assistant" {
		t.Errorf("chat role %q", got.Chat.Role)
	}
	if nf := got.NotFound; nf.Status != 404 || nf.Code != "model_not_found" || nf.Param != "model" || nf.Type != "invalid_request_error" {
		t.Errorf("unknown model: %+v", nf)
	}

	// The abandoned stream's generation stopped long before its 500 tokens.
	cancelled := regexp.MustCompile(`accel_inference_requests_total\{api="completions",outcome="cancelled"\} 1\n`)
	tokens := regexp.MustCompile(`(?m)^accel_inference_completion_tokens_total (\S+)$`)
	deadline := time.Now().Add(10 * time.Second)
	metrics := get(t, d.API+"/metrics")
	for !cancelled.MatchString(metrics) {
		if time.Now().After(deadline) {
			t.Fatalf("no cancelled completion in the metrics:\n%s", metrics)
		}
		time.Sleep(20 * time.Millisecond)
		metrics = get(t, d.API+"/metrics")
	}
	m := tokens.FindStringSubmatch(metrics)
	if n, err := strconv.ParseFloat(m[1], 64); err != nil || n >= 4*30+500 {
		t.Errorf("%s tokens generated: the abandoned stream ran on", m[1])
	}

	// curl reads a stream from the gateway.
	curl := exec.Command("curl", "-sS", "-N", d.Gateway+"/v1/chat/completions", "-H", "Content-Type: application/json",
		"-d", `{"model": "stories", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 8, "temperature": 0, "stream": true}`)
	sse, err := curl.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(sse)), "\n\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], `data: {"id":"chatcmpl-`) || lines[len(lines)-1] != "data: [DONE]" ||
		!strings.Contains(lines[len(lines)-2], `"finish_reason":"length"`) {
		t.Fatalf("curl read:\n%s", sse)
	}
}

// get returns a page's body.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// A daemon answers for a model it does not hold: C, connected to A and B,
// which hold stories260K, answers a greedy chat naming the model's CID with
// A's text, having fetched the tokenizer alone and run the model on A or B
// (their offload servers opened sessions for it), and has the model
// pinned afterwards.
func TestInferenceFetchesModel(t *testing.T) {
	needModels(t)
	repoA, repoB := newRepo(t), newRepo(t)
	root := addStories(t, repoA)
	if got := addStories(t, repoB); got != root {
		t.Fatalf("B added %s, A %s", got, root)
	}
	a, b, c := startDaemon(t, repoA), startDaemon(t, repoB), startDaemon(t, newRepo(t))
	c.Connect(a)
	c.Connect(b)

	req := `{"model": "` + root + `", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 30, "temperature": 0}`
	want, got := chatText(t, a.API, req), chatText(t, c.API, req)
	if got != want {
		t.Errorf("C answered %q, A %q", got, want)
	}
	opened := 0.0
	for _, d := range []*daemontest.Accel{a, b} {
		opened += metric(t, get(t, d.Gateway+"/metrics"), "accel_offload_sessions_opened_total")
	}
	if opened == 0 {
		t.Error("C ran every layer itself: A and B opened no offload session")
	}

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.Run("pin", "ls"), root+" recursive") {
		if time.Now().After(deadline) {
			t.Fatalf("C never pinned %s:\n%s", root, c.Run("pin", "ls"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := chatText(t, c.API, req); got != want {
		t.Errorf("C, the model pinned, answered %q, A %q", got, want)
	}
}

// chatText posts a chat completion request to the API at url and returns
// the answer's text.
func chatText(t *testing.T, url, req string) string {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Choices) != 1 {
		t.Fatalf("%s: %d %s (%v)", url, resp.StatusCode, body, err)
	}
	return out.Choices[0].Message.Content
}
