package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// spmSpace is the character SentencePiece stores for a space (U+2581).
const spmSpace = "\u2581"

// NewSentencePiece builds the tokenizer of a GGUF vocabulary with
// tokenizer.ggml.model "llama": tokens, scores and types are
// tokenizer.ggml.tokens, .scores and .token_type; bos, eos and unk are the
// .bos_token_id, .eos_token_id and .unknown_token_id (-1 for none);
// addSpacePrefix is tokenizer.ggml.add_space_prefix (true when absent, as in
// llama.cpp). scores may be nil (all 0). types may be nil, in which case
// unk is unknown, bos and eos are control, "<0xXX>" pieces are bytes and the
// rest is normal.
//
// Encoding follows llama.cpp's llm_tokenizer_spm: special tokens in the text
// are split out first (see Encode); each remaining fragment gets a leading
// space when it starts the text or follows a special token and
// addSpacePrefix is set, spaces become '▁', the fragment is split into UTF-8
// characters, and the adjacent pair whose concatenation is the vocabulary
// piece with the highest score is merged until none is left (ties: leftmost).
// Characters that are not pieces become their byte tokens ("<0xXX>"), or one
// unk when the vocabulary lacks a byte token for them.
//
// If no piece contains '▁' but some contain a plain space (a vocabulary
// exported without escaping), plain spaces are used instead of '▁'.
func NewSentencePiece(tokens []string, scores []float32, types []int32, bos, eos, unk int, addSpacePrefix bool) (*Tokenizer, error) {
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if scores == nil {
		scores = make([]float32, n)
	}
	if len(scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(scores), n)
	}
	if types != nil && len(types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(types), n)
	}
	for _, c := range []struct {
		name string
		id   int
	}{{"bos", bos}, {"eos", eos}, {"unk", unk}} {
		if c.id < -1 || c.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range for %d tokens", c.name, c.id, n)
		}
	}
	t := &Tokenizer{
		algo:           algoSPM,
		pieces:         slices.Clone(tokens),
		scores:         slices.Clone(scores),
		bos:            bos,
		eos:            eos,
		unk:            unk,
		addSpacePrefix: addSpacePrefix,
		spaceSym:       spmSpace,
	}
	t.types = make([]int32, n)
	if types != nil {
		copy(t.types, types)
	} else {
		for i, p := range tokens {
			t.types[i] = TypeNormal
			if _, ok := parseByteToken(p); ok {
				t.types[i] = TypeByte
			}
		}
		for _, id := range []int{bos, eos} {
			if id >= 0 {
				t.types[id] = TypeControl
			}
		}
		if unk >= 0 {
			t.types[unk] = TypeUnknown
		}
	}
	hasSpace := false
	for _, p := range tokens {
		if strings.Contains(p, spmSpace) {
			hasSpace = false
			break
		}
		hasSpace = hasSpace || strings.Contains(p, " ")
	}
	if hasSpace {
		t.spaceSym = " "
	}

	t.ids = make(map[string]int, n)
	for i, p := range tokens { // last occurrence wins, like llama.cpp's token_to_id
		t.ids[p] = i
	}
	for i := range t.byteTok {
		t.byteTok[i] = -1
	}
	t.decoded = make([]string, n)
	t.stripBOS = make([]bool, n)
	for i, p := range tokens {
		switch t.types[i] {
		case TypeNormal:
			// The space symbol becomes a space as Decode yields the piece.
			t.decoded[i] = p
			t.stripBOS[i] = addSpacePrefix && (strings.HasPrefix(p, t.spaceSym) || strings.HasPrefix(p, " "))
		case TypeUserDefined:
			t.decoded[i] = p
		case TypeUnknown:
			t.decoded[i] = "\u2585" // llama.cpp's rendering of <unk>
		case TypeByte:
			if b, ok := parseByteToken(p); ok {
				t.decoded[i] = string([]byte{b})
				if t.byteTok[b] < 0 {
					t.byteTok[b] = i
				}
			}
		}
	}
	t.initSpecials()
	t.initEOG()
	return t, nil
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length announced by
// a leading byte (1 for continuation bytes).
func utf8Len(c byte) int {
	switch {
	case c < 0xC0:
		return 1
	case c < 0xE0:
		return 2
	case c < 0xF0:
		return 3
	}
	return 4
}

// encodeSPM appends the ids of one raw fragment.
func (t *Tokenizer) encodeSPM(text string, prevSpecial bool, out []int) []int {
	if text == "" {
		return out
	}
	if t.addSpacePrefix && prevSpecial {
		text = " " + text
	}
	if t.spaceSym != " " {
		text = strings.ReplaceAll(text, " ", t.spaceSym)
	}
	syms := make([]symbol, 0, len(text))
	for i := 0; i < len(text); {
		n := min(utf8Len(text[i]), len(text)-i)
		syms = appendSymbol(syms, text[i:i+n], -1)
		i += n
	}
	var buf []byte
	mergeSymbols(syms, func(l, r string) (int, float64, bool) {
		buf = append(append(buf[:0], l...), r...)
		id, ok := t.ids[string(buf)]
		if !ok || t.scores[id] != t.scores[id] { // NaN scores never merge
			return 0, 0, false
		}
		return id, float64(t.scores[id]), true
	})
	for i := 0; i >= 0; i = syms[i].next {
		s := syms[i].text
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		if !t.hasByteTokens(s) {
			if t.unk >= 0 {
				out = append(out, t.unk)
			}
			continue
		}
		for j := 0; j < len(s); j++ {
			out = append(out, t.byteTok[s[j]])
		}
	}
	return out
}

func (t *Tokenizer) hasByteTokens(s string) bool {
	for j := 0; j < len(s); j++ {
		if t.byteTok[s[j]] < 0 {
			return false
		}
	}
	return true
}
