// Package tokenizer turns text into token ids and back, with the vocabularies
// that Llama-family checkpoints carry.
//
// One concrete type, [Tokenizer], covers three algorithms, picked by the
// constructor:
//
//   - [ReadLlama2C] / [LoadLlama2C]: the llama2.c tokenizer.bin format, encoded
//     exactly as llama2.c's run.c encode() does (dummy-prefix " " token,
//     codepoint lookup with +3 byte fallback, repeated best-score pair merge).
//   - [NewSentencePiece]: a GGUF vocabulary with tokenizer.ggml.model "llama"
//     (SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs it).
//   - [NewBPE]: a GGUF vocabulary with tokenizer.ggml.model "gpt2" (byte-level
//     BPE with a pre-tokenizer chosen by tokenizer.ggml.pre).
//
// A Tokenizer is immutable after construction (except [Tokenizer.AddEOG],
// which must be called before it is shared), so Encode and Decode are safe for
// concurrent use.
package tokenizer

import (
	"slices"
	"strings"
)

// Token types, as stored in GGUF tokenizer.ggml.token_type (llama.cpp's
// llama_token_type).
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

type algorithm int

const (
	algoLlama2C algorithm = iota
	algoSPM
	algoBPE
)

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	algo   algorithm
	pieces []string  // vocabulary text as stored in the checkpoint
	scores []float32 // llama2.c and SentencePiece merge scores
	types  []int32   // token types (TypeNormal, ...)
	ids    map[string]int

	bos, eos, unk int // -1 when absent

	// decoded[i] is what Decode yields for token i (a SentencePiece normal
	// token's space symbols made spaces first); stripBOS[i] says whether
	// its first byte is a space that is dropped right after BOS.
	decoded  []string
	stripBOS []bool
	eog      map[int]bool

	// byteTok[b] is the id of the token for raw byte b, -1 if none.
	byteTok [256]int

	// specials holds the ids of tokens that are matched literally in the
	// input before the algorithm runs, longest text first.
	specials []int

	// SentencePiece
	spaceSym       string // "▁" normally; " " when the vocabulary stores plain spaces
	addSpacePrefix bool

	// BPE
	ranks        map[string]int // "left right" → merge rank
	pre          string
	split        func(s string) []string
	ignoreMerges bool
}

// BOS returns the beginning-of-sequence id, or -1 if the vocabulary has none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1 if the vocabulary has none.
func (t *Tokenizer) EOS() int { return t.eos }

// VocabSize returns the number of tokens in the vocabulary.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Model names the algorithm: "llama2c", "llama" (SentencePiece) or "gpt2"
// (byte-level BPE), the latter two as in GGUF tokenizer.ggml.model.
func (t *Tokenizer) Model() string {
	switch t.algo {
	case algoLlama2C:
		return "llama2c"
	case algoSPM:
		return "llama"
	default:
		return "gpt2"
	}
}

// Pre returns the BPE pre-tokenizer name ("" for the other algorithms).
func (t *Tokenizer) Pre() string { return t.pre }

// Piece returns the vocabulary text of id exactly as the checkpoint stores it
// (with '▁' for SentencePiece, GPT-2 byte-mapped characters for BPE), or ""
// for an id out of range.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Score returns the merge score of id (llama2.c and SentencePiece
// vocabularies), or 0.
func (t *Tokenizer) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// Type returns the token type of id (TypeNormal, TypeControl, ...), or
// TypeUndefined for an id out of range.
func (t *Tokenizer) Type(id int) int32 {
	if id < 0 || id >= len(t.types) {
		return TypeUndefined
	}
	return t.types[id]
}

// TokenID returns the id whose Piece is exactly text.
func (t *Tokenizer) TokenID(text string) (int, bool) {
	id, ok := t.ids[text]
	return id, ok
}

// IsEOG reports whether id ends generation: EOS, tokens registered with
// AddEOG, and control tokens whose text is a known end-of-turn marker
// (<|eot_id|>, <|eom_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>,
// <EOT>). For a llama2.c tokenizer BOS (1) ends generation too: run.c stops
// when the model samples BOS, which is how llama2.c models end a sequence.
func (t *Tokenizer) IsEOG(id int) bool { return t.eog[id] }

// AddEOG marks more ids as end of generation (for example GGUF
// tokenizer.ggml.eot_token_id and eom_token_id). Ids out of range are
// ignored. Call it before the Tokenizer is shared between goroutines.
func (t *Tokenizer) AddEOG(ids ...int) {
	for _, id := range ids {
		if id >= 0 && id < len(t.pieces) {
			t.eog[id] = true
		}
	}
}

// eogTexts are end-of-turn markers of common chat models.
var eogTexts = map[string]bool{
	"<|eot_id|>": true, "<|eom_id|>": true, "<|im_end|>": true, "<|end|>": true,
	"<end_of_turn>": true, "<|endoftext|>": true, "<EOT>": true,
}

func (t *Tokenizer) initEOG() {
	t.eog = map[int]bool{}
	if t.eos >= 0 {
		t.eog[t.eos] = true
	}
	for id, ty := range t.types {
		if (ty == TypeControl || ty == TypeUserDefined) && eogTexts[t.pieces[id]] {
			t.eog[id] = true
		}
	}
}

// Encode returns the token ids of text, with BOS prepended and EOS appended
// when asked (and the vocabulary has them). For GGUF vocabularies, the text of
// control, unknown and user-defined tokens appearing in text is matched as
// that single token (as llama.cpp does with parse_special); use
// EncodeOrdinary for untrusted text. Invalid UTF-8 is kept byte for byte.
func (t *Tokenizer) Encode(text string, bos, eos bool) []int {
	return t.encode(text, bos, eos, true)
}

// EncodeOrdinary is Encode with control and unknown token texts treated as
// plain text, so that user input cannot inject "<|eot_id|>" and the like.
// User-defined tokens, being ordinary vocabulary additions, are still matched.
func (t *Tokenizer) EncodeOrdinary(text string, bos, eos bool) []int {
	return t.encode(text, bos, eos, false)
}

func (t *Tokenizer) encode(text string, bos, eos, special bool) []int {
	out := make([]int, 0, len(text)/2+3)
	if bos && t.bos >= 0 {
		out = append(out, t.bos)
	}
	switch t.algo {
	case algoLlama2C:
		out = t.encodeLlama2C(text, out)
	default:
		prevSpecial := true
		for _, f := range t.partition(text, special) {
			if f.id >= 0 {
				out = append(out, f.id)
				prevSpecial = true
				continue
			}
			if t.algo == algoSPM {
				out = t.encodeSPM(f.text, prevSpecial, out)
			} else {
				out = t.encodeBPE(f.text, out)
			}
			prevSpecial = false
		}
	}
	if eos && t.eos >= 0 {
		out = append(out, t.eos)
	}
	return out
}

// Decode returns the text of token when it follows prev (use -1 for none),
// for streaming output. As in llama2.c and llama.cpp, a SentencePiece piece
// that starts with a space loses it right after BOS (that space is the dummy
// prefix Encode adds). Byte tokens yield their raw byte, so a piece may be
// part of a UTF-8 sequence; concatenate pieces before interpreting them.
// Control tokens (BOS, EOS, ...) decode to "", unknown SentencePiece tokens
// to "▅" (as llama.cpp). Ids out of range decode to "".
func (t *Tokenizer) Decode(prev, token int) string {
	if token < 0 || token >= len(t.decoded) {
		return ""
	}
	s := t.decoded[token]
	if t.algo == algoSPM && t.types[token] == TypeNormal {
		s = strings.ReplaceAll(s, t.spaceSym, " ")
	}
	if t.bos >= 0 && prev == t.bos && t.stripBOS[token] {
		s = s[1:]
	}
	return s
}

// DecodeAll returns the text of a whole sequence: the concatenation of
// Decode(tokens[i-1], tokens[i]), with no previous token for tokens[0].
func (t *Tokenizer) DecodeAll(tokens []int) string {
	var b strings.Builder
	prev := -1
	for _, tok := range tokens {
		b.WriteString(t.Decode(prev, tok))
		prev = tok
	}
	return b.String()
}

// parseByteToken returns b for a piece that is exactly "<0xXX>" (hex digits
// in either case).
func parseByteToken(p string) (byte, bool) {
	if len(p) != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(p[3])
	lo, ok2 := hexVal(p[4])
	if !ok1 || !ok2 {
		return 0, false
	}
	return hi<<4 | lo, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fragment is a piece of input text: raw text (id < 0) or one special token.
type fragment struct {
	text string
	id   int
}

// partition splits text around literal occurrences of special tokens, trying
// the longest special texts first over the whole text (as llama.cpp's
// tokenizer_st_partition does). With special false only user-defined tokens
// are matched.
func (t *Tokenizer) partition(text string, special bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: -1}}
	for _, id := range t.specials {
		ty := t.types[id]
		if !special && ty != TypeUserDefined {
			continue
		}
		sp := t.pieces[id]
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, sp) {
				next = append(next, f)
				continue
			}
			changed = true
			rest := f.text
			for {
				i := strings.Index(rest, sp)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], id: -1})
				}
				next = append(next, fragment{text: sp, id: id})
				rest = rest[i+len(sp):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, id: -1})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// initSpecials collects the tokens partition matches: control, unknown and
// user-defined tokens with non-empty text, longest first.
func (t *Tokenizer) initSpecials() {
	for id, ty := range t.types {
		if (ty == TypeControl || ty == TypeUnknown || ty == TypeUserDefined) && t.pieces[id] != "" {
			t.specials = append(t.specials, id)
		}
	}
	sortByLenDesc(t.specials, t.pieces)
}

func sortByLenDesc(ids []int, pieces []string) {
	slices.SortStableFunc(ids, func(a, b int) int { return len(pieces[b]) - len(pieces[a]) })
}
