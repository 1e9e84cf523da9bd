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
// head by the angles of one position, given as cos/sin tables (see ropeTable).
func rope(x []float32, headDim int, cos, sin []float32) {
	for h := 0; h < len(x); h += headDim {
		for i := range cos {
			a, b := x[h+2*i], x[h+2*i+1]
			x[h+2*i] = a*cos[i] - b*sin[i]
			x[h+2*i+1] = a*sin[i] + b*cos[i]
		}
	}
}

// softmax normalises x in place.
func softmax(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		x[i] = float32(math.Exp(float64(v - m)))
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// silu is x·σ(x).
func silu(x float32) float32 { return x / (1 + float32(math.Exp(float64(-x)))) }

// ropeTable fills cos/sin for one position: pair i turns by pos/θ^(2i/d).
func (m *Model) ropeTable(pos int, cos, sin []float32) {
	for i := range cos {
		freq := 1 / math.Pow(float64(m.RopeTheta), float64(2*i)/float64(m.RopeDim))
		angle := float64(pos) * freq
		cos[i], sin[i] = float32(math.Cos(angle)), float32(math.Sin(angle))
	}
}

// layer runs transformer block l on the n hidden states in s.h, for
// positions pos…pos+n−1.
func (s *Session) layer(l, pos, n int) {
	m, c := s.model, s.model.Config
	w := &m.Blocks[l]
	dim, qdim, kvdim := c.Dim, c.QDim(), c.KVDim()

	// Attention: x += Wo · attention(rope(Wq·xn), rope(Wk·xn), Wv·xn).
	for t := range n {
		rmsnorm(s.xn[t*dim:(t+1)*dim], s.h[t*dim:(t+1)*dim], w.AttnNorm, c.NormEps)
	}
	s.batch.Reset(s.xn[:n*dim], n, dim)
	quant.MatMulAll([][]float32{s.q, s.k, s.v}, []*quant.Matrix{w.Q, w.K, w.V}, &s.batch)
	half := c.RopeDim / 2
	for t := range n {
		cos, sin := s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half]
		rope(s.q[t*qdim:(t+1)*qdim], c.HeadDim, cos, sin)
		rope(s.k[t*kvdim:(t+1)*kvdim], c.HeadDim, cos, sin)
		s.kv.put(l, pos+t, s.k[t*kvdim:(t+1)*kvdim], s.v[t*kvdim:(t+1)*kvdim])
	}
	group := c.Heads / c.KVHeads
	quant.ParallelFor(n*c.KVHeads, 1, func(lo, hi int) {
		scratch := make([]float32, c.HeadDim+group*s.contextFor(pos+n-1))
		for i := lo; i < hi; i++ {
			t := i / c.KVHeads
			s.attend(l, pos+t, i%c.KVHeads, s.q[t*qdim:(t+1)*qdim], s.att[t*qdim:(t+1)*qdim], scratch)
		}
	})
	s.batch.Reset(s.att[:n*qdim], n, qdim)
	w.O.MatMul(s.xn, &s.batch)
	for i := range s.h[:n*dim] {
		s.h[i] += s.xn[i]
	}

	// Feed-forward: x += W2 · (silu(W1·xn) ⊙ W3·xn).
	for t := range n {
		rmsnorm(s.xn[t*dim:(t+1)*dim], s.h[t*dim:(t+1)*dim], w.FFNNorm, c.NormEps)
	}
	s.batch.Reset(s.xn[:n*dim], n, dim)
	quant.MatMulAll([][]float32{s.gate, s.up}, []*quant.Matrix{w.Gate, w.Up}, &s.batch)
	hid := c.HiddenDim
	for i := range s.gate[:n*hid] {
		s.gate[i] = silu(s.gate[i]) * s.up[i]
	}
	s.batch.Reset(s.gate[:n*hid], n, hid)
	w.Down.MatMul(s.xn, &s.batch)
	for i := range s.h[:n*dim] {
		s.h[i] += s.xn[i]
	}
}

// contextFor is how many positions a query at pos attends to.
func (s *Session) contextFor(pos int) int {
	if s.kv.Window {
		return min(pos+1, s.kv.Capacity)
	}
	return pos + 1
}

// attend writes the attention output of the query heads that share KV head
// kvh, for the query at pos (q and out are that position's rows), into out.
// Each cached key and value is read once for the whole group.
func (s *Session) attend(l, pos, kvh int, q, out []float32, scratch []float32) {
	c := s.model.Config
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	klo, khi := kvh*hd, (kvh+1)*hd
	ctx := s.contextFor(pos)
	first := pos + 1 - ctx
	buf, scores := scratch[:hd], scratch[hd:hd+group*ctx]
	scale := float32(1 / math.Sqrt(float64(hd)))
	heads := q[kvh*group*hd : (kvh+1)*group*hd]
	for j := range ctx {
		k := s.kv.key(l, first+j, klo, khi, buf)
		for g := range group {
			scores[g*ctx+j] = quant.Dot(heads[g*hd:(g+1)*hd], k) * scale
		}
	}
	for g := range group {
		softmax(scores[g*ctx : (g+1)*ctx])
	}
	o := out[kvh*group*hd : (kvh+1)*group*hd]
	clear(o)
	for j := range ctx {
		v := s.kv.value(l, first+j, klo, khi, buf)
		for g := range group {
			quant.AddScaled(o[g*hd:(g+1)*hd], scores[g*ctx+j], v)
		}
	}
}
