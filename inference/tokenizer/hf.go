package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// HFVocab is a Hugging Face tokenizer.json vocabulary in the form of GGUF's
// tokenizer.ggml.* metadata, ready for NewSentencePiece (Model "llama") or
// NewBPE (Model "gpt2"). Tokens holds every id from 0 up, once.
type HFVocab struct {
	Model          string    // tokenizer.ggml.model: "llama" or "gpt2"
	Pre            string    // tokenizer.ggml.pre, for "gpt2"
	Tokens         []string  // tokenizer.ggml.tokens
	Scores         []float32 // tokenizer.ggml.scores, for "llama"
	Types          []int32   // tokenizer.ggml.token_type
	Merges         []string  // tokenizer.ggml.merges ("left right"), for "gpt2"
	AddSpacePrefix bool      // tokenizer.ggml.add_space_prefix, for "llama"
	BOS, EOS, UNK  int       // -1 when absent
}

// hfTokenizer is the part of tokenizer.json that ParseHF reads.
type hfTokenizer struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   *hfStep `json:"normalizer"`
	PreTokenizer *hfStep `json:"pre_tokenizer"`
	Model        struct {
		Type         string            `json:"type"`
		Vocab        json.RawMessage   `json:"vocab"` // map[string]int for BPE
		Merges       []json.RawMessage `json:"merges"`
		UnkToken     *string           `json:"unk_token"`
		ByteFallback bool              `json:"byte_fallback"`
	} `json:"model"`
}

// hfStep is a normalizer or pre-tokenizer, possibly a Sequence of them.
type hfStep struct {
	Type           string    `json:"type"`
	Steps          []*hfStep `json:"normalizers"`
	PreTokenizers  []*hfStep `json:"pretokenizers"`
	Prepend        string    `json:"prepend"`          // Prepend
	PrependScheme  string    `json:"prepend_scheme"`   // Metaspace
	AddPrefixSpace *bool     `json:"add_prefix_space"` // Metaspace, ByteLevel
	UseRegex       *bool     `json:"use_regex"`        // ByteLevel
	Pattern        struct {
		Regex string `json:"Regex"`
	} `json:"pattern"` // Split
	IndividualDigits bool `json:"individual_digits"` // Digits
}

// flat lists s, or the steps of a Sequence, in order.
func (s *hfStep) flat() []*hfStep {
	switch {
	case s == nil:
		return nil
	case s.Type == "Sequence":
		var out []*hfStep
		for _, c := range append(s.Steps, s.PreTokenizers...) {
			out = append(out, c.flat()...)
		}
		return out
	}
	return []*hfStep{s}
}

// The pre-tokenizer regular expressions of Llama 3 and Qwen 2 as their
// tokenizer.json files spell them.
const (
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// ParseHF reads a tokenizer.json and, if not nil, its tokenizer_config.json
// (whose bos_token and eos_token name BOS and EOS). Two kinds of "BPE"
// model are supported, as llama.cpp's converter tells them apart:
//
//   - byte_fallback (Llama 2, Mistral, TinyLlama: SentencePiece BPE exported
//     by transformers' LlamaConverter) becomes Model "llama". SentencePiece
//     merges the pair that forms the highest-scoring piece while Hugging
//     Face merges the lowest-ranked pair, so a piece scores minus the rank of
//     the first merge forming it, and a piece no merge forms scores below
//     every merge. (llama.cpp's converter scores every token -1000 instead,
//     which merges leftmost first and tokenizes differently.) Byte tokens
//     "<0xXX>" are typed byte, the unk_token unknown, special added tokens
//     control and other added tokens user-defined. AddSpacePrefix is set
//     when the normalizer prepends "▁" or a Metaspace pre-tokenizer adds a
//     prefix space.
//   - byte-level BPE (GPT-2, Llama 3, Qwen 2) becomes Model "gpt2" with the
//     merges, Pre naming the pre-tokenizer: a lone ByteLevel is "gpt2",
//     Llama 3's and Qwen 2's split patterns "llama-bpe" and "qwen2". Added
//     tokens are typed as above.
//
// Other models (Unigram, WordPiece) and other pre-tokenizers are errors.
func ParseHF(tokenizerJSON, configJSON []byte) (*HFVocab, error) {
	var tj hfTokenizer
	if err := json.Unmarshal(tokenizerJSON, &tj); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json model type %q is not supported (want \"BPE\")", tj.Model.Type)
	}
	var vocab map[string]int
	if err := json.Unmarshal(tj.Model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json vocab: %w", err)
	}
	v := &HFVocab{BOS: -1, EOS: -1, UNK: -1}
	if err := v.fillTokens(&tj, vocab); err != nil {
		return nil, err
	}
	merges, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, err
	}
	if tj.Model.ByteFallback {
		v.Model = "llama"
		v.Scores = mergeScores(v.Tokens, merges)
		for _, s := range append(tj.Normalizer.flat(), tj.PreTokenizer.flat()...) {
			switch {
			case s.Type == "Prepend" && s.Prepend == spmSpace,
				s.Type == "Metaspace" && (s.PrependScheme == "always" || s.PrependScheme == "first"),
				s.Type == "Metaspace" && s.PrependScheme == "" && (s.AddPrefixSpace == nil || *s.AddPrefixSpace):
				v.AddSpacePrefix = true
			}
		}
	} else {
		v.Model = "gpt2"
		v.Merges = merges
		if v.Pre, err = preTokenizerName(tj.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if configJSON != nil {
		if err := v.readConfig(configJSON); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// fillTokens lays out the model's vocabulary and the added tokens by id.
func (v *HFVocab) fillTokens(tj *hfTokenizer, vocab map[string]int) error {
	byID := map[int]string{}
	types := map[int]int32{}
	for piece, id := range vocab {
		if _, dup := byID[id]; dup || id < 0 {
			return fmt.Errorf("tokenizer: tokenizer.json gives id %d to %q and to another token", id, piece)
		}
		byID[id], types[id] = piece, TypeNormal
		if _, ok := parseByteToken(piece); ok && tj.Model.ByteFallback {
			types[id] = TypeByte
		}
	}
	for _, a := range tj.AddedTokens {
		if old, ok := byID[a.ID]; ok && old != a.Content || a.ID < 0 {
			return fmt.Errorf("tokenizer: tokenizer.json adds %q as id %d, which is %q", a.Content, a.ID, old)
		}
		byID[a.ID], types[a.ID] = a.Content, TypeUserDefined
		if a.Special {
			types[a.ID] = TypeControl
		}
	}
	n := len(byID)
	v.Tokens, v.Types = make([]string, n), make([]int32, n)
	for id, piece := range byID {
		if id >= n {
			return fmt.Errorf("tokenizer: tokenizer.json has %d tokens but ids up to %d: ids must run from 0 without gaps", n, id)
		}
		v.Tokens[id], v.Types[id] = piece, types[id]
	}
	if u := tj.Model.UnkToken; u != nil {
		if v.UNK = v.id(*u); v.UNK >= 0 {
			v.Types[v.UNK] = TypeUnknown
		}
	}
	return nil
}

// id is the id of the token whose text is s, or -1.
func (v *HFVocab) id(s string) int {
	for i, t := range v.Tokens {
		if t == s {
			return i
		}
	}
	return -1
}

// parseMerges reads merges spelled "left right" or ["left", "right"].
func parseMerges(raw []json.RawMessage) ([]string, error) {
	out := make([]string, len(raw))
	for i, m := range raw {
		var s string
		if err := json.Unmarshal(m, &s); err == nil && strings.Contains(s, " ") {
			out[i] = s
			continue
		}
		var pair []string
		if err := json.Unmarshal(m, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json merge %d is %s, not \"left right\" or [\"left\", \"right\"]", i, m)
		}
		out[i] = pair[0] + " " + pair[1]
	}
	return out, nil
}

// mergeScores scores each token minus the rank of the first merge forming
// it, and tokens no merge forms -len(merges).
func mergeScores(tokens []string, merges []string) []float32 {
	rank := make(map[string]int, len(merges))
	for r, m := range merges {
		l, rt, _ := strings.Cut(m, " ")
		if _, ok := rank[l+rt]; !ok {
			rank[l+rt] = r
		}
	}
	scores := make([]float32, len(tokens))
	for i, t := range tokens {
		r, ok := rank[t]
		if !ok {
			r = len(merges)
		}
		scores[i] = -float32(r)
	}
	return scores
}

// preTokenizerName names a byte-level BPE pre-tokenizer as GGUF's
// tokenizer.ggml.pre does.
func preTokenizerName(p *hfStep) (string, error) {
	steps := p.flat()
	regexOn := func(s *hfStep) bool { return s.UseRegex == nil || *s.UseRegex }
	switch {
	case len(steps) == 1 && steps[0].Type == "ByteLevel" && regexOn(steps[0]):
		return "gpt2", nil
	case len(steps) == 2 && steps[0].Type == "Split" && steps[1].Type == "ByteLevel" && !regexOn(steps[1]):
		switch steps[0].Pattern.Regex {
		case llama3Regex:
			return "llama-bpe", nil
		case qwen2Regex:
			return "qwen2", nil
		}
	}
	js, _ := json.Marshal(p)
	return "", fmt.Errorf("tokenizer: tokenizer.json pre-tokenizer %s is not supported (want GPT-2's ByteLevel, or Llama 3's or Qwen 2's Split then ByteLevel)", js)
}

// readConfig takes BOS and EOS from tokenizer_config.json's bos_token and
// eos_token (a string or {"content": string}).
func (v *HFVocab) readConfig(configJSON []byte) error {
	var c struct {
		BOS json.RawMessage `json:"bos_token"`
		EOS json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(configJSON, &c); err != nil {
		return fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *int
	}{{c.BOS, &v.BOS}, {c.EOS, &v.EOS}} {
		var s string
		if json.Unmarshal(f.raw, &s) != nil {
			var obj struct{ Content string }
			if json.Unmarshal(f.raw, &obj) != nil {
				continue
			}
			s = obj.Content
		}
		if s != "" {
			*f.dst = v.id(s)
		}
	}
	return nil
}
