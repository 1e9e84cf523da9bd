package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/offload"
)

// maxBody bounds a request's JSON.
const maxBody = 8 << 20

// params are the generation parameters the completions, chat and stream
// requests share, with OpenAI's names and defaults.
type params struct {
	Model               string       `json:"model"`
	MaxTokens           *int         `json:"max_tokens"`
	MaxCompletionTokens *int         `json:"max_completion_tokens"`
	Temperature         *float32     `json:"temperature"`
	TopP                *float32     `json:"top_p"`
	TopK                int          `json:"top_k"`
	Seed                *int64       `json:"seed"`
	Stop                stopSequence `json:"stop"`
	PresencePenalty     float32      `json:"presence_penalty"`
	FrequencyPenalty    float32      `json:"frequency_penalty"`
	N                   *int         `json:"n"`
}

// stopSequence is OpenAI's stop: a string or an array of strings.
type stopSequence []string

// maxStops is how many stop sequences a request may give, as OpenAI's.
const maxStops = 4

func (s *stopSequence) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*s = nil
		return nil
	}
	var one string
	if json.Unmarshal(data, &one) == nil {
		*s = stopSequence{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return invalid("stop", "stop is a string or an array of strings")
	}
	*s = many
	return nil
}

// options checks p and turns it into generation options: no token limit
// but the context by default, temperature 1, top_p 1, a random seed.
func (p params) options() (generate.Options, error) {
	var o generate.Options
	if p.N != nil && *p.N != 1 {
		return o, invalid("n", "n must be 1: this server generates one choice per request")
	}
	limit, param := p.MaxTokens, "max_tokens"
	if p.MaxCompletionTokens != nil {
		limit, param = p.MaxCompletionTokens, "max_completion_tokens"
	}
	if limit != nil {
		if *limit < 1 {
			return o, invalid(param, "%s must be at least 1", param)
		}
		o.MaxTokens = *limit
	}
	o.Sample.Temperature = 1
	if t := p.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return o, invalid("temperature", "temperature must be between 0 and 2")
		}
		o.Sample.Temperature = *t
	}
	if t := p.TopP; t != nil {
		if *t < 0 || *t > 1 {
			return o, invalid("top_p", "top_p must be between 0 and 1")
		}
		o.Sample.TopP = *t
	}
	if p.TopK < 0 {
		return o, invalid("top_k", "top_k must be 0 (all tokens) or more")
	}
	o.Sample.TopK = p.TopK
	for name, v := range map[string]float32{"presence_penalty": p.PresencePenalty, "frequency_penalty": p.FrequencyPenalty} {
		if v < -2 || v > 2 {
			return o, invalid(name, "%s must be between -2 and 2", name)
		}
	}
	o.Sample.PresencePenalty, o.Sample.FrequencyPenalty = p.PresencePenalty, p.FrequencyPenalty
	o.Sample.Seed = rand.Uint64()
	if p.Seed != nil {
		o.Sample.Seed = uint64(*p.Seed)
	}
	if len(p.Stop) > maxStops {
		return o, invalid("stop", "at most %d stop sequences", maxStops)
	}
	o.Stop = p.Stop
	return o, nil
}

// decode reads a request's JSON body into v.
func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody)).Decode(v); err != nil {
		if e := asAPIError(err, ""); e.status != http.StatusInternalServerError {
			return e // a parameter's own check
		}
		return &apiError{status: http.StatusBadRequest, Message: "request body: " + err.Error(), Type: "invalid_request_error"}
	}
	return nil
}

// job is one generation.
type job struct {
	api     string // the label api of the metrics
	arrived time.Time
	model   *model
	prompt  string
	opts    generate.Options
}

// run waits for a turn of the model's and runs j, emitting text as it comes,
// and counts it in the metrics.
func (s *Server) run(ctx context.Context, j job, emit func(string) error) (generate.Stats, error) {
	release, err := s.take(ctx, j.model)
	if err != nil {
		return generate.Stats{}, err
	}
	defer release()
	lacking := missing(j.model.llm)
	if lacking > 0 {
		remote := &remoteLayers{ctx: ctx, fetch: s.opts.Fetch, model: j.model, context: j.opts.Session.Context, ranges: map[[2]int]*offload.Client{}}
		defer remote.close()
		j.opts.Session.Offload, j.opts.Session.Remote = remote.run, remote.runAll
		j.opts.Resume = remote.resume
	}
	g := s.track(j, lacking)
	defer s.untrack(g)
	defer j.model.answered()
	var last time.Time
	onToken := j.opts.OnToken
	j.opts.OnToken = func(t generate.Token) {
		now := time.Now()
		g.token(now)
		if last.IsZero() {
			j.model.answered()
			s.metrics.firstToken.Observe(now.Sub(j.arrived).Seconds())
		} else {
			s.metrics.tokenLatency.Observe(now.Sub(last).Seconds())
		}
		last = now
		if onToken != nil {
			onToken(t)
		}
	}
	st, err := j.model.engine.Run(ctx, j.prompt, j.opts, emit)
	s.metrics.promptTokens.Add(float64(st.PromptTokens))
	s.metrics.completionTokens.Add(float64(st.Tokens))
	return st, err
}

// count records a finished request: cancelled when its context ended.
func (s *Server) count(ctx context.Context, api string, err error) {
	outcome := outcomeOK
	switch {
	case ctx.Err() != nil || errors.Is(err, errClientGone):
		outcome = outcomeCancelled
	case err != nil:
		outcome = outcomeError
	}
	s.metrics.requests.WithLabelValues(api, outcome).Inc()
}

// finishReason is OpenAI's name for why a generation ended.
func finishReason(st generate.Stats) string {
	if st.Reason == "length" || st.Reason == "context" {
		return "length"
	}
	return "stop"
}
