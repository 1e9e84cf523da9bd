package generate

import (
	"slices"
	"sync"
	"time"

	"github.com/ipfs-accelerate/accel/inference/llama"
)

// Engine runs the generations of one model, any number at once
// (continuous batching): a step takes the next token of every sequence
// decoding and the prompts of those starting, as one pass through the
// weights (llama.Step), and waits for every decoding sequence to ask; a
// sequence decodes in the steps after its prompt's and leaves as soon as
// it ends. A sequence asks for its next token's step before its text goes
// out, and if the text is still going out (to a client that may be slow
// or paused) when the step after that is due, the steps go on without it. A prompt that finds the engine idle
// waits gatherFor for the other prompts of a burst, so that they share its
// pass. Sessions that offload layers run passes of their own between
// steps. Each sequence's output is what it would be alone. An Engine is
// safe for concurrent use.
type Engine struct {
	model *llama.Model
	step  llama.Step

	mu        sync.Mutex
	wake      *sync.Cond // a pass ended, or a sequence asked for one or left
	busy      bool       // a pass is running
	gathering bool       // a prompt waits for others before its step
	members   int        // sequences decoding in steps: each asks for the next one or leaves
	asked     []*decode  // tokens of the next step
	prompts   int        // how many of asked are prompts
	steps     int        // shared steps run
}

// gatherFor is how long a prompt that finds the engine idle waits for
// others: requests sent together arrive within it.
const gatherFor = 2 * time.Millisecond

// decode is one sequence's tokens in a step.
type decode struct {
	sess   *llama.Session
	tokens []int
	prompt bool // not a member's next token
	logits []float32
	err    error
	done   bool
}

// NewEngine runs generations of m.
func NewEngine(m *llama.Model) *Engine {
	e := &Engine{model: m}
	e.wake = sync.NewCond(&e.mu)
	return e
}

// sequence is one generation's place in the engine.
type sequence struct {
	engine   *Engine
	member   bool
	emitting bool        // its text is going out: the next step waits for it up to emitGrace
	late     *time.Timer // takes it out of the steps once it has emitted for emitGrace
	pending  *decode     // asked for and not yet waited for
}

// emitGrace is how long a decode step waits for a sequence whose text is
// going out (a write to a client, usually far shorter) before it runs
// without it: a slow or paused client does not hold the others back, and
// a quick one keeps its place in every step.
const emitGrace = 2 * time.Millisecond

// forward runs tokens through sess: in the next shared step where sess
// holds all its layers (a single token as a member of the steps, several as
// a prompt), in a pass of its own otherwise.
func (q *sequence) forward(sess *llama.Session, tokens []int) ([]float32, error) {
	if !sess.Local() {
		return q.alone(sess, tokens)
	}
	return q.wait(q.ask(sess, tokens))
}

// alone runs tokens through sess in a pass of its own.
func (q *sequence) alone(sess *llama.Session, tokens []int) ([]float32, error) {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	q.emitting = false
	q.leave()
	for e.busy {
		e.wake.Wait()
	}
	e.busy = true
	e.mu.Unlock()
	logits, err := sess.Forward(tokens)
	e.mu.Lock()
	e.busy = false
	e.wake.Broadcast()
	return logits, err
}

// ask puts tokens (of a session that holds all its layers) in the next
// step and returns at once: the sequence may write its text while the
// step waits for the others or runs. wait returns the step's logits.
func (q *sequence) ask(sess *llama.Session, tokens []int) *decode {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	q.emitting = false
	d := &decode{sess: sess, tokens: tokens, prompt: len(tokens) > 1}
	if d.prompt {
		q.leave()
		e.prompts++
	} else if !q.member {
		q.member = true
		e.members++
	}
	e.asked = append(e.asked, d)
	q.pending = d
	e.wake.Broadcast()
	return d
}

// wait runs or waits for the step d is in and returns d's logits.
func (q *sequence) wait(d *decode) ([]float32, error) {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	q.emitting, q.pending = false, nil
	if d.prompt && e.members == 0 && !e.busy && !e.gathering && len(e.asked) == 1 && e.asked[0] == d {
		e.gathering = true
		e.mu.Unlock()
		time.Sleep(gatherFor)
		e.mu.Lock()
		e.gathering = false
	}
	for !d.done {
		if e.busy || e.gathering || len(e.asked)-e.prompts < e.members {
			e.wake.Wait()
			continue
		}
		e.runStep()
	}
	return d.logits, d.err
}

// runStep runs the step every member has asked for, with the prompts
// asked meanwhile; e.mu is held.
func (e *Engine) runStep() {
	asked := e.asked
	e.asked, e.prompts, e.busy = nil, 0, true
	e.steps++
	sessions, tokens := make([]*llama.Session, len(asked)), make([][]int, len(asked))
	for i, d := range asked {
		sessions[i], tokens[i] = d.sess, d.tokens
	}
	e.mu.Unlock()
	logits, err := e.step.Forward(sessions, tokens)
	if err == nil {
		for i, d := range asked {
			d.logits = logits[i]
		}
	} else {
		// A step checks its input before it changes any session: run
		// each alone, so that bad input fails only its own sequence.
		for i, d := range asked {
			var one [][]float32
			if one, d.err = e.step.Forward(sessions[i:i+1], tokens[i:i+1]); d.err == nil {
				d.logits = one[0]
			}
		}
	}
	e.mu.Lock()
	for _, d := range asked {
		d.done = true
	}
	e.busy = false
	e.wake.Broadcast()
}

// end takes the sequence out of the steps for good.
func (q *sequence) end() {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	q.leave()
	if q.late != nil {
		q.late.Stop()
	}
	// A token asked for that no step has taken yet (the text that went
	// out ended the generation) is withdrawn.
	if d := q.pending; d != nil {
		if i := slices.Index(e.asked, d); i >= 0 {
			e.asked = slices.Delete(e.asked, i, i+1)
			if d.prompt {
				e.prompts--
			}
			e.wake.Broadcast()
		}
		q.pending = nil
	}
}

// emit says the sequence's text is going out: it stays in the steps until
// it has kept the others waiting for a step for emitGrace (graceOver).
func (q *sequence) emit() {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	if !q.member || q.emitting {
		return
	}
	q.emitting = true
	if q.late == nil {
		q.late = time.AfterFunc(emitGrace, q.graceOver)
	} else {
		q.late.Reset(emitGrace)
	}
}

// graceOver runs emitGrace after emit: a sequence still emitting leaves the
// steps if others wait for one; while its next token's step has not run
// (it holds no one up), a pass runs (on every core, so the sequence may not
// have had one to ask on) or no one waits, it gets another emitGrace.
func (q *sequence) graceOver() {
	e := q.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !q.emitting:
	case q.pending != nil && !q.pending.done, e.busy || len(e.asked) == 0:
		q.late.Reset(emitGrace)
	default:
		q.leave()
	}
}

// leave takes the sequence out of the steps; e.mu is held.
func (q *sequence) leave() {
	q.emitting = false
	if q.member {
		q.member = false
		q.engine.members--
		q.engine.wake.Broadcast()
	}
}
