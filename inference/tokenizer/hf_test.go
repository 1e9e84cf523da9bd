package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// A tiny SentencePiece-style BPE: merges as pairs, a Metaspace
// pre-tokenizer, specials from tokenizer_config.json.
func TestParseHFByteFallback(t *testing.T) {
	js := `{"added_tokens":[{"id":0,"content":"<unk>","special":true},{"id":1,"content":"<s>","special":true},
		{"id":2,"content":"</s>","special":true},{"id":9,"content":"<tool>","special":false}],
		"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false},
		"model":{"type":"BPE","byte_fallback":true,"unk_token":"<unk>",
		"vocab":{"<unk>":0,"<s>":1,"</s>":2,"<0x41>":3,"▁":4,"a":5,"b":6,"ab":7,"▁ab":8},
		"merges":[["a","b"],["▁","ab"]]}}`
	v, err := ParseHF([]byte(js), []byte(`{"bos_token":{"content":"<s>"},"eos_token":"</s>"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "llama" || !v.AddSpacePrefix || v.BOS != 1 || v.EOS != 2 || v.UNK != 0 {
		t.Errorf("%+v", v)
	}
	if !slices.Equal(v.Types, []int32{TypeUnknown, TypeControl, TypeControl, TypeByte, TypeNormal, TypeNormal, TypeNormal, TypeNormal, TypeNormal, TypeUserDefined}) {
		t.Errorf("types %v", v.Types)
	}
	if !slices.Equal(v.Scores, []float32{-2, -2, -2, -2, -2, -2, -2, 0, -1, -2}) {
		t.Errorf("scores %v", v.Scores)
	}
	tok, err := NewSentencePiece(v.Tokens, v.Scores, v.Types, v.BOS, v.EOS, v.UNK, v.AddSpacePrefix)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("ab A<tool>", true, false); !slices.Equal(got, []int{1, 8, 4, 3, 9}) {
		t.Errorf("encodes %v", got)
	}
}

// A tiny GPT-2 byte-level BPE ("Ġ" is the space byte).
func TestParseHFByteLevel(t *testing.T) {
	js := `{"added_tokens":[{"id":6,"content":"<|endoftext|>","special":true}],
		"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
		"model":{"type":"BPE","byte_fallback":false,"vocab":{"a":0,"b":1,"Ġ":2,"ab":3,"Ġab":4,"c":5},
		"merges":["a b","Ġ ab"]}}`
	v, err := ParseHF([]byte(js), []byte(`{"eos_token":"<|endoftext|>"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "gpt2" || v.Pre != "gpt2" || v.EOS != 6 || v.BOS != -1 || v.Scores != nil || !slices.Equal(v.Merges, []string{"a b", "Ġ ab"}) {
		t.Errorf("%+v", v)
	}
	tok, err := NewBPE(v.Tokens, v.Types, v.Merges, v.BOS, v.EOS, v.Pre)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("ab ab<|endoftext|>", false, false); !slices.Equal(got, []int{3, 4, 6}) {
		t.Errorf("encodes %v", got)
	}
	llama3 := strings.Replace(js, `"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}`,
		`"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"`+strings.ReplaceAll(llama3Regex, `\`, `\\`)+
			`"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`, 1)
	if v, err := ParseHF([]byte(llama3), nil); err != nil || v.Pre != "llama-bpe" {
		t.Errorf("Llama 3 pre-tokenizer: %+v, %v", v, err)
	}
}

func TestParseHFErrors(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{`, "tokenizer.json"},
		{`{"model":{"type":"Unigram","vocab":[["a",0]]}}`, `model type "Unigram" is not supported`},
		{`{"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0,"b":2},"merges":[]}}`, "without gaps"},
		{`{"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0,"b":0},"merges":[]}}`, "gives id 0"},
		{`{"added_tokens":[{"id":0,"content":"x"}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, `adds "x" as id 0`},
		{`{"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0},"merges":["ab"]}}`, "merge 0"},
		{`{"pre_tokenizer":{"type":"Whitespace"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`, "pre-tokenizer"},
	} {
		if _, err := ParseHF([]byte(c.js), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.js, err, c.want)
		}
	}
}
