package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards, in byte order.
var byteToRune, runeToByte = gpt2ByteMap()

func gpt2ByteMap() (enc [256]string, dec map[rune]byte) {
	dec = make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)) {
			r = next
			next++
		}
		enc[b] = string(r)
		dec[r] = byte(b)
	}
	return enc, dec
}

// Pre-tokenizer names accepted by NewBPE (GGUF tokenizer.ggml.pre values,
// grouped as llama.cpp groups them).
var preTokenizers = map[string]struct {
	split        func(string) []string
	ignoreMerges bool
}{
	// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
	"":        {splitGPT2, false},
	"default": {splitGPT2, false},
	"gpt2":    {splitGPT2, false},
	"gpt-2":   {splitGPT2, false},
	"phi-2":   {splitGPT2, false},
	// \p{N} first, then GPT-2 on what lies between
	"smollm":    {splitDigitsThenGPT2, false},
	"starcoder": {splitDigitsThenGPT2, false},
	"refact":    {splitDigitsThenGPT2, false},
	// Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
	//          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	"llama3":    {splitLlama3, true},
	"llama-v3":  {splitLlama3, true},
	"llama-bpe": {splitLlama3, true},
	"falcon3":   {splitLlama3, true},
	// Qwen2: the Llama 3 pattern with \p{N} instead of \p{N}{1,3}
	"qwen2":            {splitQwen2, false},
	"deepseek-r1-qwen": {splitQwen2, false},
}

// NewBPE builds the tokenizer of a GGUF vocabulary with tokenizer.ggml.model
// "gpt2": tokens, types and merges are tokenizer.ggml.tokens, .token_type and
// .merges ("left right", highest priority first); bos and eos are the
// .bos_token_id and .eos_token_id (-1 for none); pre is tokenizer.ggml.pre.
// types may be nil (all normal).
//
// Pre-tokenizers (hand-written, because Go's regexp has no (?!\S)
// lookahead; each reproduces its regular expression's leftmost-alternative
// backtracking result exactly):
//
//	"", "default", "gpt2", "gpt-2", "phi-2"  the GPT-2 pattern
//	"smollm", "starcoder", "refact"         every \p{N} alone, then GPT-2
//	"llama3", "llama-v3", "llama-bpe", "falcon3"
//	                                        the Llama 3 pattern (digits in
//	                                        groups of 1-3); a word that is a
//	                                        token is taken whole (llama.cpp's
//	                                        ignore_merges)
//	"qwen2", "deepseek-r1-qwen"             the Llama 3 pattern, single digits
//
// Other names are an error rather than a silent approximation. \s is
// unicode.IsSpace, \p{L} unicode.IsLetter, \p{N} unicode.IsNumber; the
// contractions of the case-insensitive patterns fold ASCII only.
//
// Encoding splits out special tokens (see Encode), pre-tokenizes each
// remaining fragment, maps every word's bytes through GPT-2's byte-to-unicode
// table and applies merges lowest rank first (ties: leftmost), as llama.cpp's
// llm_tokenizer_bpe does. A merged symbol that is not a token falls back to
// its single characters; characters that are not tokens either are dropped.
// Decode maps normal tokens back through the inverse byte table (a piece may
// end inside a UTF-8 sequence), returns user-defined tokens as stored and
// control tokens as "".
func NewBPE(tokens []string, types []int32, merges []string, bos, eos int, pre string) (*Tokenizer, error) {
	n := len(tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: empty vocabulary")
	}
	if types != nil && len(types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(types), n)
	}
	for _, c := range []struct {
		name string
		id   int
	}{{"bos", bos}, {"eos", eos}} {
		if c.id < -1 || c.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range for %d tokens", c.name, c.id, n)
		}
	}
	p, ok := preTokenizers[pre]
	if !ok {
		return nil, fmt.Errorf("tokenizer: unsupported BPE pre-tokenizer %q", pre)
	}
	t := &Tokenizer{
		algo:         algoBPE,
		pieces:       slices.Clone(tokens),
		bos:          bos,
		eos:          eos,
		unk:          -1,
		pre:          pre,
		split:        p.split,
		ignoreMerges: p.ignoreMerges,
		ranks:        make(map[string]int, len(merges)),
	}
	for i, m := range merges {
		// llama.cpp splits at the first space after the first byte
		j := strings.IndexByte(m[min(1, len(m)):], ' ') + 1
		if j <= 0 {
			return nil, fmt.Errorf("tokenizer: BPE merge %d %q is not \"left right\"", i, m)
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = i
		}
	}
	t.types = make([]int32, n)
	if types != nil {
		copy(t.types, types)
	} else {
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}
	t.ids = make(map[string]int, n)
	for i, p := range tokens { // last occurrence wins, like llama.cpp's token_to_id
		t.ids[p] = i
	}
	for b := range t.byteTok {
		t.byteTok[b] = -1
		if id, ok := t.ids[byteToRune[b]]; ok {
			t.byteTok[b] = id
		}
	}
	t.decoded = make([]string, n)
	t.stripBOS = make([]bool, n)
	for i, p := range tokens {
		switch t.types[i] {
		case TypeNormal:
			t.decoded[i] = bpeDecodeText(p)
		case TypeUserDefined:
			t.decoded[i] = p
		}
	}
	t.initSpecials()
	t.initEOG()
	return t, nil
}

// bpeDecodeText maps a byte-level piece back to its bytes; characters outside
// the GPT-2 table pass through as UTF-8.
func bpeDecodeText(p string) string {
	b := make([]byte, 0, len(p))
	for _, r := range p {
		if c, ok := runeToByte[r]; ok {
			b = append(b, c)
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}

// encodeBPE appends the ids of one raw fragment.
func (t *Tokenizer) encodeBPE(text string, out []int) []int {
	var sb strings.Builder
	var buf []byte
	for _, word := range t.split(text) {
		sb.Reset()
		for i := 0; i < len(word); i++ {
			sb.WriteString(byteToRune[word[i]])
		}
		w := sb.String()
		if t.ignoreMerges {
			if id, ok := t.ids[w]; ok {
				out = append(out, id)
				continue
			}
		}
		syms := make([]symbol, 0, len(word))
		for _, r := range w {
			syms = appendSymbol(syms, string(r), -1)
		}
		mergeSymbols(syms, func(l, r string) (int, float64, bool) {
			buf = append(append(append(buf[:0], l...), ' '), r...)
			rank, ok := t.ranks[string(buf)]
			return -1, -float64(rank), ok
		})
		for i := 0; len(syms) > 0 && i >= 0; i = syms[i].next {
			s := syms[i].text
			if id, ok := t.ids[s]; ok {
				out = append(out, id)
				continue
			}
			for _, r := range s {
				if id, ok := t.ids[string(r)]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}
