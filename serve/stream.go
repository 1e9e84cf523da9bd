package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ipfs-accelerate/accel/inference/generate"
)

// The WebSocket streaming protocol at StreamPath. The client sends a
// request, {"prompt", "model", "max_tokens", "temperature", "top_p",
// "stop", …} (the completions parameters), and at any time
// {"type": "pause"}, {"type": "resume"} or {"type": "cancel"}; the server
// answers each request with a "token" message per piece of text, a
// "metrics" message at most every metricsEvery, and a "complete" message,
// or an "error" message. One generation runs at a time on a connection;
// the next request may follow its "complete".

// metricsEvery is the least time between two metrics messages.
const metricsEvery = 500 * time.Millisecond

// streamRequest is a client's message.
type streamRequest struct {
	Type   string `json:"type"` // "" (a request), "pause", "resume" or "cancel"
	Prompt string `json:"prompt"`
	params
}

type tokenMessage struct {
	Type   string `json:"type"` // "token"
	Token  string `json:"token"`
	Index  int    `json:"index"`
	Timing struct {
		GenerationMS    float64 `json:"generation_ms"`     // from the last token's sending to this one's text
		StreamLatencyMS float64 `json:"stream_latency_ms"` // from its text to its sending, a pause included
	} `json:"timing"`
}

type metricsMessage struct {
	Type             string  `json:"type"` // "metrics"
	TokensPerSecond  float64 `json:"tokens_per_second"`
	AverageLatencyMS float64 `json:"average_latency_ms"`
	MemoryMB         float64 `json:"memory_mb"`
}

type completeMessage struct {
	Type            string  `json:"type"` // "complete"
	TokensGenerated int     `json:"tokens_generated"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	FinishReason    string  `json:"finish_reason"` // "stop", "length" or "cancelled"
}

type errorMessage struct {
	Type    string `json:"type"` // "error"
	Message string `json:"message"`
}

// The API listener refuses web pages (Origin) before the upgrade.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	conn.SetReadLimit(maxBody)
	ctx, cancel := context.WithCancel(r.Context())
	c := &streamConn{s: s, conn: conn}
	var running sync.WaitGroup
	defer func() {
		cancel()
		conn.Close()
		running.Wait()
	}()
	go func() {
		<-ctx.Done() // the daemon stops
		conn.Close()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var req streamRequest
		if err := json.Unmarshal(data, &req); err != nil {
			c.fail("not a request: " + err.Error())
			continue
		}
		switch req.Type {
		case "pause":
			c.pause()
		case "resume":
			c.resume()
		case "cancel":
			c.cancelRunning()
		case "":
			gctx, ok := c.begin(ctx)
			if !ok {
				c.fail("a generation is running: wait for its complete message, or cancel it")
				continue
			}
			running.Add(1)
			go func() {
				defer running.Done()
				c.generate(gctx, req)
			}()
		default:
			c.fail("unknown message type " + req.Type + ": want a request, pause, resume or cancel")
		}
	}
}

// streamConn is one WebSocket connection.
type streamConn struct {
	s       *Server
	conn    *websocket.Conn
	writing sync.Mutex // one writer at a time

	mu      sync.Mutex
	cancel  context.CancelFunc // of the generation running, nil when none
	paused  bool
	resumed chan struct{} // closed on resume
}

func (c *streamConn) send(v any) error {
	c.writing.Lock()
	defer c.writing.Unlock()
	return c.conn.WriteJSON(v)
}

func (c *streamConn) fail(msg string) {
	c.send(errorMessage{Type: "error", Message: msg}) //nolint:errcheck // a broken connection ends the read loop
}

// begin starts a generation's context, unless one runs.
func (c *streamConn) begin(ctx context.Context) (context.Context, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return nil, false
	}
	ctx, c.cancel = context.WithCancel(ctx)
	return ctx, true
}

// end forgets the generation that ended, and its pause.
func (c *streamConn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	c.cancel = nil
	if c.paused {
		c.paused = false
		close(c.resumed)
	}
}

func (c *streamConn) cancelRunning() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *streamConn) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil && !c.paused {
		c.paused, c.resumed = true, make(chan struct{})
	}
}

func (c *streamConn) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.paused = false
		close(c.resumed)
	}
}

// whilePaused waits for a resume, or for ctx to end.
func (c *streamConn) whilePaused(ctx context.Context) error {
	c.mu.Lock()
	paused, resumed := c.paused, c.resumed
	c.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// generate runs one request. A pause holds the generation before its next
// token goes out.
func (c *streamConn) generate(ctx context.Context, req streamRequest) {
	arrived := time.Now()
	st, err := c.run(ctx, arrived, req)
	c.s.count(ctx, "stream", err)
	cancelled := ctx.Err() != nil
	// The generation ends before its last message goes out: a client may
	// send its next request as soon as it reads it.
	c.end()
	switch {
	case cancelled:
		c.send(completeMessage{Type: "complete", TokensGenerated: st.Tokens, TokensPerSecond: st.DecodeTokensPerSecond(), FinishReason: "cancelled"}) //nolint:errcheck
	case err != nil:
		c.fail(err.Error())
	default:
		c.send(completeMessage{Type: "complete", TokensGenerated: st.Tokens, TokensPerSecond: st.DecodeTokensPerSecond(), FinishReason: finishReason(st)}) //nolint:errcheck
	}
}

func (c *streamConn) run(ctx context.Context, arrived time.Time, req streamRequest) (generate.Stats, error) {
	opts, err := req.options()
	if err != nil {
		return generate.Stats{}, err
	}
	m, err := c.s.model(ctx, req.Model)
	if err != nil {
		return generate.Stats{}, err
	}
	var (
		index       int
		last        = time.Now() // when the last token went out
		computing   time.Duration
		lastMetrics = time.Now()
	)
	return c.s.run(ctx, job{api: "stream", arrived: arrived, model: m, prompt: req.Prompt, opts: opts}, func(text string) error {
		now := time.Now()
		msg := tokenMessage{Type: "token", Token: text, Index: index}
		msg.Timing.GenerationMS = ms(now.Sub(last))
		computing += now.Sub(last)
		index++
		if err := c.whilePaused(ctx); err != nil {
			return err
		}
		msg.Timing.StreamLatencyMS = ms(time.Since(now))
		if err := c.send(msg); err != nil {
			return err
		}
		last = time.Now()
		if last.Sub(lastMetrics) >= metricsEvery {
			lastMetrics = last
			var mem runtime.MemStats
			runtime.ReadMemStats(&mem)
			return c.send(metricsMessage{Type: "metrics", TokensPerSecond: float64(index) / computing.Seconds(),
				AverageLatencyMS: ms(computing) / float64(index), MemoryMB: float64(mem.Sys-mem.HeapReleased) / (1 << 20)})
		}
		return nil
	})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
