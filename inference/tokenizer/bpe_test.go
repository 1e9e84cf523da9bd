package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// testBPE builds a byte-level vocabulary: the 256 GPT-2 byte characters
// (id = byte value), merged tokens, and special tokens.
type testBPE struct {
	tokens []string
	types  []int32
	merges []string
}

func newTestBPE() *testBPE {
	v := &testBPE{}
	for b := 0; b < 256; b++ {
		v.tokens = append(v.tokens, byteToRune[b])
		v.types = append(v.types, TypeNormal)
	}
	for _, m := range []string{
		"Ġ t", "h e", "Ġt he", // " the"
		"i n", "Ġ a", "Ġa n", "Ġan d", // " and"
		"1 2", "12 3", // "123"
		"x y", "y z", // "xyz" → "xy" "z": rank decides
		"Ġ Ġ",         // two spaces: unused when the pre-tokenizer splits them apart
		"ä ½", "ä½ ł", // 你 = E4 BD A0
	} {
		v.merges = append(v.merges, m)
		v.tokens = append(v.tokens, strings.Replace(m, " ", "", 1))
		v.types = append(v.types, TypeNormal)
	}
	v.tokens = append(v.tokens, "Ġbanana") // whole-word token without merges
	v.types = append(v.types, TypeNormal)
	for _, s := range []struct {
		text string
		typ  int32
	}{{"<|begin_of_text|>", TypeControl}, {"<|end_of_text|>", TypeControl}, {"<|eot_id|>", TypeControl}, {"<tool>", TypeUserDefined}} {
		v.tokens = append(v.tokens, s.text)
		v.types = append(v.types, s.typ)
	}
	return v
}

func (v *testBPE) id(t testing.TB, piece string) int {
	t.Helper()
	i := slices.Index(v.tokens, piece)
	if i < 0 {
		t.Fatalf("no token %q", piece)
	}
	return i
}

func (v *testBPE) build(t testing.TB, pre string) *Tokenizer {
	t.Helper()
	tk, err := NewBPE(v.tokens, v.types, v.merges, v.id(t, "<|begin_of_text|>"), v.id(t, "<|end_of_text|>"), pre)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestBPEByteMap(t *testing.T) {
	// GPT-2's table: printable bytes stay, space → Ġ (U+0120), \n → Ċ (U+010A)
	for b, want := range map[byte]rune{'a': 'a', '!': '!', ' ': 'Ġ', '\n': 'Ċ', 0: 'Ā', 0xAD: 'Ń', 0xFF: 'ÿ', 0x7F: 'ġ'} {
		if got, _ := utf8.DecodeRuneInString(byteToRune[b]); got != want {
			t.Errorf("byte %#x → %q, want %q", b, got, want)
		}
	}
	seen := map[string]bool{}
	for b := 0; b < 256; b++ {
		seen[byteToRune[b]] = true
		if runeToByte[[]rune(byteToRune[b])[0]] != byte(b) {
			t.Errorf("inverse of %#x wrong", b)
		}
	}
	if len(seen) != 256 {
		t.Errorf("byte map not injective: %d", len(seen))
	}
}

func TestBPEMerges(t *testing.T) {
	v := newTestBPE()
	tk := v.build(t, "gpt2")
	cases := []struct {
		text string
		want []string
	}{
		{" the", []string{"Ġthe"}},
		{"the and", []string{"t", "he", "Ġand"}},
		{"123", []string{"123"}},
		{"1234", []string{"123", "4"}}, // gpt2 keeps digits together; merges decide
		{"xyz", []string{"xy", "z"}},   // "x y" ranks before "y z"
		{"a  b", []string{"a", "Ġ", "Ġ", "b"}},
		{"你", []string{"ä½ł"}},
		{"你们", []string{"ä½ł", "ä", "»", "¬"}}, // 们 = E4 BB AC, no merges
		{" banana", []string{"Ġ", "b", "a", "n", "a", "n", "a"}},
	}
	for _, c := range cases {
		var want []int
		for _, p := range c.want {
			want = append(want, v.id(t, p))
		}
		if got := tk.Encode(c.text, false, false); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v %q", c.text, got, want, c.want)
		}
	}
	// llama3 takes a word that is a token whole (ignore_merges) and splits
	// digits in groups of three
	l3 := v.build(t, "llama-bpe")
	if got := l3.Encode(" banana", false, false); !slices.Equal(got, []int{v.id(t, "Ġbanana")}) {
		t.Errorf("llama3 whole-word token: %v", got)
	}
	if got, want := l3.Encode("1231234", false, false), []int{v.id(t, "123"), v.id(t, "123"), '4'}; !slices.Equal(got, want) {
		t.Errorf("llama3 digits: %v, want %v", got, want)
	}
	// qwen2 splits every digit
	q := v.build(t, "qwen2")
	if got, want := q.Encode("123", false, false), []int{'1', '2', '3'}; !slices.Equal(got, want) {
		t.Errorf("qwen2 digits: %v, want %v", got, want)
	}
}

func TestBPESpecials(t *testing.T) {
	v := newTestBPE()
	tk := v.build(t, "llama3")
	bot, eot, tool := v.id(t, "<|begin_of_text|>"), v.id(t, "<|eot_id|>"), v.id(t, "<tool>")
	got := tk.Encode("<|begin_of_text|>the<|eot_id|> the<tool>", false, true)
	want := []int{bot, 't', v.id(t, "he"), eot, v.id(t, "Ġthe"), tool, tk.EOS()}
	if !slices.Equal(got, want) {
		t.Errorf("Encode with specials = %v, want %v", got, want)
	}
	if got := tk.Encode("x", true, false); !slices.Equal(got, []int{bot, 'x'}) {
		t.Errorf("bos: %v", got)
	}
	// EncodeOrdinary spells control tokens out but keeps user-defined ones
	ord := tk.EncodeOrdinary("<|eot_id|><tool>", false, false)
	if slices.Contains(ord, eot) || !slices.Contains(ord, tool) || tk.DecodeAll(ord) != "<|eot_id|><tool>" {
		t.Errorf("EncodeOrdinary = %v (%q)", ord, tk.DecodeAll(ord))
	}
	// control tokens decode to nothing, user-defined ones to their text
	if got := tk.DecodeAll(want); got != "the the<tool>" {
		t.Errorf("DecodeAll = %q", got)
	}
	if !tk.IsEOG(eot) || !tk.IsEOG(tk.EOS()) || tk.IsEOG(bot) || tk.IsEOG('a') {
		t.Error("IsEOG wrong")
	}
	tk.AddEOG('a', -5, 1<<20)
	if !tk.IsEOG('a') {
		t.Error("AddEOG ignored")
	}
	if id, ok := tk.TokenID("<|eot_id|>"); !ok || id != eot {
		t.Error("TokenID")
	}
	if tk.Type(eot) != TypeControl || tk.Type(tool) != TypeUserDefined || tk.Type('a') != TypeNormal || tk.Type(-1) != TypeUndefined {
		t.Error("Type")
	}
	if tk.Model() != "gpt2" || tk.Pre() != "llama3" {
		t.Error("Model/Pre")
	}
}

// Splits verified against Python's regex module with the original patterns.
func TestPreTokenizers(t *testing.T) {
	cases := []struct {
		text                string
		gpt2, llama3, qwen2 []string
	}{
		{"a  b\n\n c",
			[]string{"a", " ", " b", "\n\n", " c"},
			[]string{"a", " ", " b", "\n\n", " c"},
			[]string{"a", " ", " b", "\n\n", " c"}},
		{"I'm  don't 'S 'LL you're",
			[]string{"I", "'m", " ", " don", "'t", " '", "S", " '", "LL", " you", "'re"},
			[]string{"I", "'m", " ", " don", "'t", " '", "S", " '", "LL", " you", "'re"},
			nil},
		{"HE'S X'LL it's",
			[]string{"HE", "'", "S", " X", "'", "LL", " it", "'s"},
			[]string{"HE", "'S", " X", "'LL", " it", "'s"},
			nil},
		{"1234567 x12",
			[]string{"1234567", " x", "12"},
			[]string{"123", "456", "7", " x", "12"},
			[]string{"1", "2", "3", "4", "5", "6", "7", " x", "1", "2"}},
		{"hello,  world!!\n\n\tend  ",
			[]string{"hello", ",", " ", " world", "!!", "\n\n", "\t", "end", "  "},
			[]string{"hello", ",", " ", " world", "!!\n\n", "\tend", "  "},
			nil},
		{"(x)\r\n  y",
			[]string{"(", "x", ")", "\r\n ", " y"},
			[]string{"(x", ")\r\n", " ", " y"},
			nil},
	}
	for _, c := range cases {
		if got := splitGPT2(c.text); !slices.Equal(got, c.gpt2) {
			t.Errorf("gpt2 %q = %q, want %q", c.text, got, c.gpt2)
		}
		if got := splitLlama3(c.text); !slices.Equal(got, c.llama3) {
			t.Errorf("llama3 %q = %q, want %q", c.text, got, c.llama3)
		}
		if c.qwen2 != nil {
			if got := splitQwen2(c.text); !slices.Equal(got, c.qwen2) {
				t.Errorf("qwen2 %q = %q, want %q", c.text, got, c.qwen2)
			}
		}
	}
	if got, want := splitDigitsThenGPT2("a 12 b"), []string{"a", " ", "1", "2", " b"}; !slices.Equal(got, want) {
		t.Errorf("smollm = %q, want %q", got, want)
	}
	// invalid UTF-8 survives byte for byte
	if got := strings.Join(splitLlama3("a\xffb \xc3"), ""); got != "a\xffb \xc3" {
		t.Errorf("invalid UTF-8 split rejoins as %q", got)
	}
}

func TestBPERoundTrip(t *testing.T) {
	v := newTestBPE()
	for _, pre := range []string{"gpt2", "llama3", "qwen2", "smollm"} {
		tk := v.build(t, pre)
		for _, s := range []string{
			"héllo ☃ 你好 你们", "😀👍🏽 ∑x² — «quotes»", "tabs\tand\r\nCRLF  ", "\x00\x01\x7f\xad\xff bytes",
			"\xe4\xbd", "the and 1234567890", "",
		} {
			ids := tk.Encode(s, true, true)
			if got := tk.DecodeAll(ids); got != s {
				t.Errorf("%s: DecodeAll(Encode(%q)) = %q", pre, s, got)
			}
			var b strings.Builder
			for i := range ids {
				prev := -1
				if i > 0 {
					prev = ids[i-1]
				}
				b.WriteString(tk.Decode(prev, ids[i]))
			}
			if b.String() != s {
				t.Errorf("%s: concatenated Decode of %q = %q", pre, s, b.String())
			}
		}
	}
	// a piece may end inside a UTF-8 sequence: 你们 → 你 + three byte tokens
	tk := v.build(t, "gpt2")
	ids := tk.Encode("们", false, false)
	if len(ids) != 3 || tk.Decode(-1, ids[0]) != "\xe4" || tk.Decode(ids[0], ids[1]) != "\xbb" {
		t.Errorf("partial UTF-8 pieces: %v", ids)
	}
}

func TestNewBPEErrors(t *testing.T) {
	v := newTestBPE()
	for name, f := range map[string]func() error{
		"empty":     func() error { _, err := NewBPE(nil, nil, nil, -1, -1, "gpt2"); return err },
		"types":     func() error { _, err := NewBPE(v.tokens, v.types[:3], v.merges, -1, -1, "gpt2"); return err },
		"bos":       func() error { _, err := NewBPE(v.tokens, v.types, v.merges, len(v.tokens), -1, "gpt2"); return err },
		"pre":       func() error { _, err := NewBPE(v.tokens, v.types, v.merges, -1, -1, "tekken"); return err },
		"bad merge": func() error { _, err := NewBPE(v.tokens, v.types, []string{"ab"}, -1, -1, "gpt2"); return err },
	} {
		if err := f(); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// no bos/eos and nil types are fine
	tk, err := NewBPE(v.tokens[:256], nil, nil, -1, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("ab", true, true); !slices.Equal(got, []int{'a', 'b'}) || tk.BOS() != -1 || tk.Decode(-1, 'a') != "a" {
		t.Errorf("no specials: %v", got)
	}
}
