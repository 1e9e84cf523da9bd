package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs-accelerate/accel/inference/chat"
	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/tokenizer"
)

// The most alternatives a request may ask log-probabilities of.
const maxTopLogprobs = 20

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	models, err := s.pinnedModels(r.Context())
	if err != nil {
		writeError(w, asAPIError(err, ""))
		return
	}
	writeJSON(w, struct {
		Object string      `json:"object"`
		Data   []modelInfo `json:"data"`
	}{"list", append([]modelInfo{}, models...)})
}

// completionRequest is POST /v1/completions' body.
type completionRequest struct {
	params
	Prompt        json.RawMessage `json:"prompt"`
	Logprobs      *int            `json:"logprobs"`
	Stream        bool            `json:"stream"`
	StreamOptions streamOptions   `json:"stream_options"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// chatRequest is POST /v1/chat/completions' body.
type chatRequest struct {
	params
	Messages      []chatMessage `json:"messages"`
	Logprobs      bool          `json:"logprobs"`
	TopLogprobs   *int          `json:"top_logprobs"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string, or an array of parts
}

// text is the message's content: its text parts, joined.
func (m chatMessage) text() (string, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", invalid("messages", "a message's content is a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", invalid("messages", "content parts of type %q are not supported: only text", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// usage counts a request's tokens.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(st generate.Stats) *usage {
	return &usage{st.PromptTokens, st.Tokens, st.PromptTokens + st.Tokens}
}

// response is a completion or a chat completion, whole or one chunk of a
// stream.
type response struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

type choice struct {
	Index        int          `json:"index"`
	Text         *string      `json:"text,omitempty"`    // completions
	Message      *chatContent `json:"message,omitempty"` // chat
	Delta        *chatContent `json:"delta,omitempty"`   // chat stream
	Logprobs     any          `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type chatContent struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	var req completionRequest
	err := decode(r, &req)
	if err == nil {
		err = s.complete(w, r, arrived, req)
	}
	s.answered(w, r, "completions", err, "prompt")
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	var req chatRequest
	err := decode(r, &req)
	if err == nil {
		err = s.chat(w, r, arrived, req)
	}
	s.answered(w, r, "chat", err, "messages")
}

// answered counts a request and answers its error, unless its stream
// started: then the error went down the stream.
func (s *Server) answered(w http.ResponseWriter, r *http.Request, api string, err error, param string) {
	s.count(r.Context(), api, err)
	var started streamStarted
	if err != nil && !errors.As(err, &started) && r.Context().Err() == nil {
		writeError(w, asAPIError(err, param))
	}
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, arrived time.Time, req completionRequest) error {
	opts, err := req.options()
	if err != nil {
		return err
	}
	var prompt string
	if json.Unmarshal(req.Prompt, &prompt) != nil {
		var prompts []string
		if json.Unmarshal(req.Prompt, &prompts) != nil || len(prompts) != 1 {
			return invalid("prompt", "prompt must be a string (or an array of one)")
		}
		prompt = prompts[0]
	}
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > maxTopLogprobs {
			return invalid("logprobs", "logprobs must be between 0 and %d", maxTopLogprobs)
		}
		opts.Logprobs, opts.TopLogprobs = true, *req.Logprobs
	}
	m, err := s.model(r.Context(), req.Model)
	if err != nil {
		return err
	}
	tok := m.llm.Tokenizer
	out := newAnswer(w, "cmpl-", "text_completion", req.Model, req.Stream, req.StreamOptions.IncludeUsage)
	var (
		text    strings.Builder
		sampled tokenLog
		lp      = &completionLogprobs{}
		offset  int // of the next token's text in the completion
	)
	sampled.hook(&opts)
	// logprobs are those of the tokens sampled since the last chunk.
	logprobs := func() any {
		if !opts.Logprobs {
			return nil
		}
		if out.stream {
			lp = &completionLogprobs{}
		}
		offset = lp.add(tok, sampled.take(), offset)
		return lp
	}
	st, err := s.run(r.Context(), job{api: "completions", arrived: arrived, model: m, prompt: prompt, opts: opts}, func(piece string) error {
		if out.stream {
			return out.send(choice{Text: &piece, Logprobs: logprobs()})
		}
		text.WriteString(piece)
		return nil
	})
	if err != nil {
		return out.fail(err)
	}
	reason := finishReason(st)
	all := text.String()
	return out.finish(choice{Text: &all, Logprobs: logprobs(), FinishReason: &reason}, st)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, arrived time.Time, req chatRequest) error {
	opts, err := req.options()
	if err != nil {
		return err
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > maxTopLogprobs {
			return invalid("top_logprobs", "top_logprobs must be between 0 and %d", maxTopLogprobs)
		}
		if !req.Logprobs {
			return invalid("top_logprobs", "top_logprobs needs logprobs: true")
		}
		opts.TopLogprobs = *req.TopLogprobs
	}
	opts.Logprobs = req.Logprobs
	msgs := make([]chat.Message, len(req.Messages))
	for i, m := range req.Messages {
		if m.Role == "" {
			return invalid("messages", "message %d has no role", i)
		}
		content, err := m.text()
		if err != nil {
			return err
		}
		msgs[i] = chat.Message{Role: m.Role, Content: content}
	}
	m, err := s.model(r.Context(), req.Model)
	if err != nil {
		return err
	}
	prompt, err := m.chat.Render(msgs)
	if err != nil {
		return err
	}
	opts.Stop = append(opts.Stop, m.chat.Stop...)
	tok := m.llm.Tokenizer
	out := newAnswer(w, "chatcmpl-", "chat.completion", req.Model, req.Stream, req.StreamOptions.IncludeUsage)
	var sampled tokenLog
	sampled.hook(&opts)
	lp := &chatLogprobs{Content: []tokenLogprob{}}
	// logprobs are those of the tokens sampled since the last chunk.
	logprobs := func() any {
		if !opts.Logprobs {
			return nil
		}
		if out.stream {
			lp = &chatLogprobs{Content: []tokenLogprob{}}
		}
		lp.add(tok, sampled.take())
		return lp
	}
	var text strings.Builder
	first := true
	st, err := s.run(r.Context(), job{api: "chat", arrived: arrived, model: m, prompt: prompt, opts: opts}, func(piece string) error {
		if !out.stream {
			text.WriteString(piece)
			return nil
		}
		delta := &chatContent{Content: &piece}
		if first {
			delta.Role, first = "assistant", false
		}
		return out.send(choice{Delta: delta, Logprobs: logprobs()})
	})
	if err != nil {
		return out.fail(err)
	}
	reason := finishReason(st)
	if !out.stream {
		all := text.String()
		return out.finish(choice{Message: &chatContent{Role: "assistant", Content: &all}, Logprobs: logprobs(), FinishReason: &reason}, st)
	}
	delta := &chatContent{}
	if first {
		delta.Role = "assistant"
	}
	return out.finish(choice{Delta: delta, Logprobs: logprobs(), FinishReason: &reason}, st)
}

// answer writes a response: one JSON object, or a stream of chunks as
// server-sent events, whose status and headers go out with the first
// chunk, so that an error before it is still an HTTP error.
type answer struct {
	w            http.ResponseWriter
	stream       bool
	includeUsage bool
	started      bool
	head         response // id, object, created and model of every chunk
}

func newAnswer(w http.ResponseWriter, idPrefix, object, model string, stream, includeUsage bool) *answer {
	var id [12]byte
	rand.Read(id[:])
	if stream {
		object += ".chunk"
	}
	return &answer{w: w, stream: stream, includeUsage: includeUsage,
		head: response{ID: idPrefix + hex.EncodeToString(id[:]), Object: object, Created: time.Now().Unix(), Model: model}}
}

// streamStarted is an error that went down a stream already started.
type streamStarted struct{ error }

func (e streamStarted) Unwrap() error { return e.error }

// errClientGone is a stream the client stopped reading.
var errClientGone = errors.New("the client went away")

// send writes one chunk of a stream.
func (a *answer) send(c choice) error {
	chunk := a.head
	chunk.Choices = []choice{c}
	return a.event(chunk)
}

func (a *answer) event(v any) error {
	if !a.started {
		a.started = true
		h := a.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		a.w.WriteHeader(http.StatusOK)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(a.w, "data: %s\n\n", data); err != nil {
		return errClientGone
	}
	if err := http.NewResponseController(a.w).Flush(); err != nil {
		return errClientGone
	}
	return nil
}

// finish writes the last choice and the usage: the whole answer, or the
// stream's last chunks and its end.
func (a *answer) finish(c choice, st generate.Stats) error {
	if !a.stream {
		resp := a.head
		resp.Choices, resp.Usage = []choice{c}, usageOf(st)
		writeJSON(a.w, resp)
		return nil
	}
	if err := a.send(c); err != nil {
		return streamStarted{err}
	}
	if a.includeUsage {
		last := a.head
		last.Choices, last.Usage = []choice{}, usageOf(st)
		if err := a.event(last); err != nil {
			return streamStarted{err}
		}
	}
	if _, err := fmt.Fprint(a.w, "data: [DONE]\n\n"); err != nil {
		return streamStarted{errClientGone}
	}
	return nil
}

// fail ends the answer with err: an HTTP error before the stream started,
// an error event in it after.
func (a *answer) fail(err error) error {
	if !a.started {
		return err
	}
	if !errors.Is(err, errClientGone) && !errors.Is(err, context.Canceled) {
		a.event(errorBody{asAPIError(err, "")}) //nolint:errcheck // the stream ends here either way
	}
	return streamStarted{err}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

// completionLogprobs are a completion's log-probabilities, as OpenAI's
// legacy completions give them.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// tokenLog keeps the tokens a generation sampled, for their
// log-probabilities.
type tokenLog struct{ tokens []generate.Token }

// hook has o's generation log its tokens, when it computes their
// log-probabilities.
func (l *tokenLog) hook(o *generate.Options) {
	if o.Logprobs {
		o.OnToken = func(t generate.Token) { l.tokens = append(l.tokens, t) }
	}
}

// take returns the tokens logged since the last take.
func (l *tokenLog) take() []generate.Token {
	t := l.tokens
	l.tokens = nil
	return t
}

// add appends tokens, whose text starts at offset in the completion, and
// returns the offset after them.
func (l *completionLogprobs) add(tok *tokenizer.Tokenizer, tokens []generate.Token, offset int) int {
	for _, t := range tokens {
		top := map[string]float32{}
		for _, c := range t.Top {
			top[tok.Decode(-1, c.ID)] = c.Logprob
		}
		l.Tokens = append(l.Tokens, t.Text)
		l.TokenLogprobs = append(l.TokenLogprobs, t.Logprob)
		l.TopLogprobs = append(l.TopLogprobs, top)
		l.TextOffset = append(l.TextOffset, offset)
		offset += len(t.Text)
	}
	return offset
}

// chatLogprobs are a chat completion's log-probabilities.
type chatLogprobs struct {
	Content []tokenLogprob `json:"content"`
}

type tokenLogprob struct {
	Token       string         `json:"token"`
	Logprob     float32        `json:"logprob"`
	Bytes       []int          `json:"bytes"`
	TopLogprobs []tokenLogprob `json:"top_logprobs,omitempty"`
}

func (l *chatLogprobs) add(tok *tokenizer.Tokenizer, tokens []generate.Token) {
	for _, t := range tokens {
		e := newTokenLogprob(t.Text, t.Logprob)
		e.TopLogprobs = []tokenLogprob{}
		for _, c := range t.Top {
			e.TopLogprobs = append(e.TopLogprobs, newTokenLogprob(tok.Decode(-1, c.ID), c.Logprob))
		}
		l.Content = append(l.Content, e)
	}
}

func newTokenLogprob(text string, logprob float32) tokenLogprob {
	b := make([]int, len(text))
	for i := range len(text) {
		b[i] = int(text[i])
	}
	return tokenLogprob{Token: text, Logprob: logprob, Bytes: b}
}
