package quant

import (
	"fmt"
	"strings"
)

// mixes are llama.cpp's K-quant file types that mix formats (Q4_K_M,
// Q5_K_M): their base format and the format of the tensors it gives more
// bits.
var mixes = map[string]struct{ base, more Format }{
	"q4_k_m": {FormatQ4K, FormatQ6K},
	"q5_k_m": {FormatQ5K, FormatQ6K},
}

// IsMix reports whether name (case-insensitive) is one of llama.cpp's mixes
// that MixPlan writes out.
func IsMix(name string) bool {
	_, ok := mixes[strings.ToLower(strings.TrimSpace(name))]
	return ok
}

// MixPlan is llama.cpp's mix name (q4_k_m or q5_k_m) for a Llama model of
// the given number of layers, as llama_tensor_get_type picks it: the
// classifier (or, when the classifier is tied to it, the token embedding)
// in Q6_K; attn_v and ffn_down in Q6_K in the layers use_more_bits picks
// (the first and last eighth, and every third between); every other matrix
// in the base format. Rows whose length is not a multiple of 256 fall back
// as Plan.Explain says.
func MixPlan(name string, layers int, tiedEmbedding bool) (Plan, error) {
	mix, ok := mixes[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Plan{}, fmt.Errorf("quant: unknown mix %q (want q4_k_m or q5_k_m)", name)
	}
	p := Plan{Default: mix.base, Rules: []Rule{{Role: "lm_head", Format: mix.more}}}
	if tiedEmbedding {
		p.Rules = append(p.Rules, Rule{Role: "embedding", Format: mix.more})
	}
	for _, t := range []string{"attn_v", "ffn_down"} {
		for i := range layers {
			if useMoreBits(i, layers) {
				p.Rules = append(p.Rules, Rule{Match: fmt.Sprintf("blk.%d.%s.weight", i, t), Format: mix.more})
			}
		}
	}
	return p, nil
}

// useMoreBits is llama.cpp's use_more_bits.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}
