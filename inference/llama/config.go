// Package llama is the Llama transformer: RMSNorm, rotary position
// embeddings, grouped-query attention with a KV cache, and a SwiGLU
// feed-forward network, over weights in any quant format.
package llama

import "fmt"

// Config holds the hyperparameters of a Llama model.
type Config struct {
	Dim        int     // embedding width
	HiddenDim  int     // feed-forward width
	Layers     int     // transformer blocks
	Heads      int     // query heads
	KVHeads    int     // key/value heads (GQA when fewer than Heads)
	Vocab      int     // vocabulary size
	SeqLen     int     // context length
	HeadDim    int     // per-head width (Dim/Heads unless the checkpoint says)
	RopeTheta  float32 // RoPE base frequency
	NormEps    float32 // RMSNorm epsilon
	RopeDim    int     // leading dimensions of each head that RoPE rotates
	TiedOutput bool    // the classifier reuses the token embedding
}

// KVDim is the width of one position's keys (or values) across KV heads.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim }

// QDim is the width of one position's queries across heads.
func (c Config) QDim() int { return c.Heads * c.HeadDim }

func (c Config) validate() error {
	switch {
	case c.Dim <= 0 || c.HiddenDim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.Vocab <= 0 || c.SeqLen <= 0:
		return fmt.Errorf("llama: invalid hyperparameters %+v", c)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("llama: %d heads do not share %d KV heads evenly", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return fmt.Errorf("llama: head size %d / rope dims %d must be positive and even", c.HeadDim, c.RopeDim)
	case c.NormEps <= 0 || c.RopeTheta <= 0:
		return fmt.Errorf("llama: norm epsilon %g and rope theta %g must be positive", c.NormEps, c.RopeTheta)
	}
	return nil
}
