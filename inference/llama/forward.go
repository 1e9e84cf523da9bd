package llama

import (
	"math"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// rmsnorm writes x normalised by its root mean square and scaled by weight.
func rmsnorm(out, x, weight []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	scale := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	for i, v := range x {
		out[i] = weight[i] * (scale * v)
	}
}

// rope rotates the adjacent pairs (x[2i], x[2i+1]) at the start of every
// head by the angles of one position, given as cos/sin tables (see RopeTable).
func rope(x []float32, headDim int, cos, sin []float32) {
	for h := 0; h < len(x); h += headDim {
		for i := range cos {
			a, b := x[h+2*i], x[h+2*i+1]
			x[h+2*i] = a*cos[i] - b*sin[i]
			x[h+2*i+1] = a*sin[i] + b*cos[i]
		}
	}
}

// RopeTable fills cos/sin (RopeDim/2 values each) for one position: pair i
// turns by pos/θ^(2i/d). An Accelerator rotates with the same tables.
func (m *Model) RopeTable(pos int, cos, sin []float32) {
	for i := range cos {
		freq := 1 / math.Pow(float64(m.RopeTheta), float64(2*i)/float64(m.RopeDim))
		angle := float64(pos) * freq
		cos[i], sin[i] = float32(math.Cos(angle)), float32(math.Sin(angle))
	}
}

// rows is the scratch space of one pass over n hidden states, row t
// belonging to sequence seq[t] at position pos[t]: a run of one sequence's
// positions (prefill), or one position of each of several sequences (a
// batched decode step). The matrix products take all rows at once; rope,
// the KV cache and attention are each row's own.
type rows struct {
	n                             int
	seq                           []*Session
	pos                           []int
	batch                         quant.Batch
	h, xn, q, k, v, att, gate, up []float32 // n × width
	cos, sin                      []float32
}

// reset makes r a pass over the hidden states h (n×Dim values).
func (r *rows) reset(m *Model, h []float32) {
	c := m.Config
	n := len(h) / c.Dim
	r.n, r.h = n, h
	if n > len(r.seq) {
		r.seq = make([]*Session, n)
		r.pos = make([]int, n)
		r.xn = make([]float32, n*max(c.Dim, c.QDim()))
		r.q = make([]float32, n*c.QDim())
		r.k = make([]float32, n*c.KVDim())
		r.v = make([]float32, n*c.KVDim())
		r.att = make([]float32, n*c.QDim())
		r.gate = make([]float32, n*c.HiddenDim)
		r.up = make([]float32, n*c.HiddenDim)
		r.cos = make([]float32, n*c.RopeDim/2)
		r.sin = make([]float32, n*c.RopeDim/2)
	}
}

// place makes row t sequence s's position pos.
func (r *rows) place(t int, s *Session, pos int) {
	half := s.model.RopeDim / 2
	r.seq[t], r.pos[t] = s, pos
	s.model.RopeTable(pos, r.cos[t*half:(t+1)*half], r.sin[t*half:(t+1)*half])
}

// layer runs transformer block l on the rows' hidden states. Rows before
// first only add their keys and values to the caches; their hidden states
// stay as they were. That is the last block when only the last rows' logits
// are wanted: the other rows' queries, attention and feed-forward would
// feed nothing.
func (r *rows) layer(m *Model, l, first int) {
	c := m.Config
	w := &m.Blocks[l]
	n, dim, qdim, kvdim := r.n, c.Dim, c.QDim(), c.KVDim()
	out := n - first // the rows carried through the block

	// Attention: x += Wo · attention(rope(Wq·xn), rope(Wk·xn), Wv·xn).
	r.norm(0, dim, w.AttnNorm, c.NormEps)
	r.batch.Reset(r.xn[:n*dim], n, dim)
	if first == 0 {
		quant.MatMulAll([][]float32{r.q, r.k, r.v}, []*quant.Matrix{w.Q, w.K, w.V}, &r.batch)
	} else {
		quant.MatMulAll([][]float32{r.k, r.v}, []*quant.Matrix{w.K, w.V}, &r.batch)
		r.batch.Reset(r.xn[first*dim:n*dim], out, dim)
		w.Q.MatMul(r.q[first*qdim:], &r.batch)
	}
	half := c.RopeDim / 2
	quant.ParallelFor(n, rowGrain, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			cos, sin := r.cos[t*half:(t+1)*half], r.sin[t*half:(t+1)*half]
			if t >= first {
				rope(r.q[t*qdim:(t+1)*qdim], c.HeadDim, cos, sin)
			}
			rope(r.k[t*kvdim:(t+1)*kvdim], c.HeadDim, cos, sin)
		}
	})
	longest := 0
	for t := range n {
		r.seq[t].kv.put(l, r.pos[t], r.k[t*kvdim:(t+1)*kvdim], r.v[t*kvdim:(t+1)*kvdim])
		longest = max(longest, r.seq[t].contextFor(r.pos[t]))
	}
	group := c.Heads / c.KVHeads
	converted := 0 // room for the keys or values of a float16 cache
	for t := range n {
		if r.seq[t].kv.F16 {
			converted = longest * c.HeadDim
		}
	}
	quant.ParallelFor(out*c.KVHeads, 1, func(lo, hi int) {
		scratch := make([]float32, group*longest+converted)
		for i := lo; i < hi; i++ {
			t := first + interleaved(i/c.KVHeads, out)
			r.seq[t].attend(l, r.pos[t], i%c.KVHeads, r.q[t*qdim:(t+1)*qdim], r.att[t*qdim:(t+1)*qdim], scratch)
		}
	})
	r.batch.Reset(r.att[first*qdim:n*qdim], out, qdim)
	w.O.MatMul(r.xn[first*dim:], &r.batch)
	r.addResidual(first, dim)

	// Feed-forward: x += W2 · (silu(W1·xn) ⊙ W3·xn).
	r.norm(first, dim, w.FFNNorm, c.NormEps)
	r.batch.Reset(r.xn[first*dim:n*dim], out, dim)
	hid := c.HiddenDim
	gate, up := r.gate[first*hid:], r.up[first*hid:]
	quant.MatMulAll([][]float32{gate, up}, []*quant.Matrix{w.Gate, w.Up}, &r.batch)
	quant.ParallelFor(out, rowGrain, func(lo, hi int) {
		quant.SwiGLU(gate[lo*hid:hi*hid], up[lo*hid:hi*hid])
	})
	r.batch.Reset(gate[:out*hid], out, hid)
	w.Down.MatMul(r.xn[first*dim:], &r.batch)
	r.addResidual(first, dim)
}

// rowGrain is the fewest rows a thread takes of a pass's row-by-row work
// (norms, rotations, residual sums, SwiGLU): a decode step's few rows cost
// less than handing them out.
const rowGrain = 16

// norm sets rows [first, n) of xn to the RMS norm of their rows of h,
// scaled by weight, the rows shared out across the threads.
func (r *rows) norm(first, dim int, weight []float32, eps float32) {
	quant.ParallelFor(r.n-first, rowGrain, func(lo, hi int) {
		for t := first + lo; t < first+hi; t++ {
			rmsnorm(r.xn[t*dim:(t+1)*dim], r.h[t*dim:(t+1)*dim], weight, eps)
		}
	})
}

// addResidual adds rows [first, n) of xn to their rows of h, the rows
// shared out across the threads.
func (r *rows) addResidual(first, dim int) {
	quant.ParallelFor(r.n-first, rowGrain, func(lo, hi int) {
		for i := (first + lo) * dim; i < (first+hi)*dim; i++ {
			r.h[i] += r.xn[i]
		}
	})
}

// interleaved maps j in [0, n) to a row so that the rows of any run of
// consecutive j alternate between the first rows and the last: 0, n−1, 1,
// n−2, … A prompt's later positions attend to more keys, so the threads'
// shares of its attention, consecutive runs, cost about the same.
func interleaved(j, n int) int {
	if j%2 == 0 {
		return j / 2
	}
	return n - 1 - j/2
}

// contextFor is how many positions a query at pos attends to.
func (s *Session) contextFor(pos int) int {
	if s.kv.Window {
		return min(pos+1, s.kv.Capacity)
	}
	return pos + 1
}

// attend writes the attention output of the query heads that share KV head
// kvh, for the query at pos (q and out are that position's rows), into out:
// the scores of every cached key, their softmax, and the sum of the values
// so weighted. scratch holds group·ctx scores, then, for a float16 cache,
// the keys or values converted (ctx·HeadDim).
func (s *Session) attend(l, pos, kvh int, q, out []float32, scratch []float32) {
	c := s.model.Config
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	klo, khi := kvh*hd, (kvh+1)*hd
	ctx := s.contextFor(pos)
	first := pos + 1 - ctx
	scores, buf := scratch[:group*ctx], scratch[group*ctx:]
	scale := float32(1 / math.Sqrt(float64(hd)))
	heads := q[kvh*group*hd : (kvh+1)*group*hd]
	keys, n := s.kv.rows(l, first, ctx, klo, khi, false, buf)
	j := 0
	for _, r := range keys[:n] {
		quant.DotRows(scores[j:], ctx, heads, group, r)
		j += r.Count
	}
	for i := range scores {
		scores[i] *= scale
	}
	quant.Softmax(scores, group, ctx)
	o := out[kvh*group*hd : (kvh+1)*group*hd]
	clear(o)
	values, n := s.kv.rows(l, first, ctx, klo, khi, true, buf)
	j = 0
	for _, r := range values[:n] {
		quant.AddRows(o, scores[j:], ctx, group, r)
		j += r.Count
	}
}
