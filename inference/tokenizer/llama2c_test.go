package tokenizer

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const (
	tok512Path = "../../../shared/models/tok512.bin"
	ggufPath   = "../../../shared/models/stories260K-f32.gguf"
)

func loadTok512(t testing.TB) *Tokenizer {
	t.Helper()
	if _, err := os.Stat(tok512Path); err != nil {
		t.Skipf("model file absent: %v", err)
	}
	tk, err := LoadLlama2C(tok512Path, 512)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// tok512Cases holds prompts and their ids under tok512.bin with BOS. The ids
// come from an independent Python transcription of llama2.c run.c encode()
// (linear str_lookup, rescan-all-pairs merge loop, +3 byte fallback), run
// once on tok512.bin during development; 1500 further random strings,
// including random bytes, gave identical ids in Go and Python.
var tok512Cases = []struct {
	text string
	ids  []int
}{
	{"Once upon a time", []int{1, 403, 407, 261, 378}},
	{"Hello world", []int{1, 346, 306, 414, 263, 304, 341}},
	{"héllo ☃ 你好", []int{1, 270, 485, 306, 414, 410, 229, 155, 134, 410, 231, 192, 163, 232, 168, 192}},
	{"a  b\n\n c", []int{1, 261, 410, 268, 13, 13, 280}},
	{"", []int{1}},
	{"Lily and Tom played in the park. They were happy!", []int{1, 317, 269, 274, 287, 337, 266, 322, 265, 282, 295, 433, 426, 342, 382, 276, 393, 443}},
	{"The cat sat on the mat.\nThe end.", []int{1, 291, 280, 294, 262, 294, 353, 265, 284, 294, 426, 13, 434, 260, 344, 264, 426}},
}

func TestLlama2CEncode(t *testing.T) {
	tk := loadTok512(t)
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.VocabSize() != 512 || tk.Model() != "llama2c" {
		t.Fatalf("bos %d eos %d vocab %d model %q", tk.BOS(), tk.EOS(), tk.VocabSize(), tk.Model())
	}
	for _, c := range tok512Cases {
		if got := tk.Encode(c.text, true, false); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
		withEOS := append(slices.Clone(c.ids[1:]), 2)
		if got := tk.Encode(c.text, false, true); !slices.Equal(got, withEOS) {
			t.Errorf("Encode(%q, no bos, eos) = %v, want %v", c.text, got, withEOS)
		}
	}
	// the pieces behind "Once upon a time"
	want := []string{"\n<s>\n", " Once", " upon", " a", " time"}
	for i, id := range tok512Cases[0].ids {
		if got := tk.Piece(id); got != want[i] {
			t.Errorf("Piece(%d) = %q, want %q", id, got, want[i])
		}
	}
	if tk.Piece(-1) != "" || tk.Piece(512) != "" {
		t.Error("Piece out of range should be empty")
	}
}

func TestLlama2CDecode(t *testing.T) {
	tk := loadTok512(t)
	// streaming pieces: the dummy-prefix space goes after BOS only
	if got := tk.Decode(1, 403); got != "Once" {
		t.Errorf("Decode(BOS, 403) = %q", got)
	}
	if got := tk.Decode(403, 407); got != " upon" {
		t.Errorf("Decode(403, 407) = %q", got)
	}
	if got := tk.Decode(-1, 403); got != " Once" {
		t.Errorf("Decode(-1, 403) = %q", got)
	}
	// byte tokens become raw bytes: 229,155,134 = <0xE2><0x98><0x83> = "☃"
	if got := tk.Decode(410, 229) + tk.Decode(229, 155) + tk.Decode(155, 134); got != "☃" {
		t.Errorf("byte pieces = %q", got)
	}
	if tk.Decode(-1, 1) != "" || tk.Decode(5, 2) != "" || tk.Decode(1, 9999) != "" || tk.Decode(1, -3) != "" {
		t.Error("control / out-of-range ids should decode to empty")
	}
	if !tk.IsEOG(2) || !tk.IsEOG(1) || tk.IsEOG(403) {
		t.Error("IsEOG: want EOS and BOS (run.c stops at BOS), not text")
	}
	for _, s := range []string{
		"Once upon a time", "héllo ☃ 你好", "a  b\n\n c", "  two leading spaces",
		"trailing\n", "\n\nnewlines first", "tabs\tand\x00nul", "emoji 😀👍🏽 and ∑x²",
		"\xff\xfe invalid \xc3 utf-8 \x80", "",
	} {
		ids := tk.Encode(s, true, false)
		if got := tk.DecodeAll(ids); got != s {
			t.Errorf("DecodeAll(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
		var b strings.Builder
		for i := 1; i < len(ids); i++ {
			b.WriteString(tk.Decode(ids[i-1], ids[i]))
		}
		if b.String() != s {
			t.Errorf("concatenated Decode of %q = %q", s, b.String())
		}
	}
}

// llama2cFile builds a tokenizer.bin image.
func llama2cFile(maxLen int32, pieces []string, scores []float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, maxLen)
	for i, p := range pieces {
		binary.Write(&b, binary.LittleEndian, scores[i])
		binary.Write(&b, binary.LittleEndian, int32(len(p)))
		b.WriteString(p)
	}
	return b.Bytes()
}

func TestReadLlama2CErrors(t *testing.T) {
	good := llama2cFile(7, []string{"<unk>", "<s>", "</s>", "a"}, []float32{0, 0, 0, -1})
	if _, err := ReadLlama2C(bytes.NewReader(good), 4); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	lenAt := func(b []byte, tok int) int { // offset of token tok's length field
		off := 4
		for i := 0; i < tok; i++ {
			off += 8 + int(binary.LittleEndian.Uint32(b[off+4:]))
		}
		return off + 4
	}
	with := func(tok int, n uint32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[lenAt(b, tok):], n)
		return b
	}
	negMax := slices.Clone(good)
	binary.LittleEndian.PutUint32(negMax, math.MaxUint32)
	cases := []struct {
		name string
		data []byte
		n    int
		want string
	}{
		{"empty", nil, 4, "tokenizer: llama2.c header: the file is truncated"},
		{"vocab too small", good, 2, "vocab size 2 out of range"},
		{"vocab huge", good, 1 << 30, "vocab size 1073741824 out of range"},
		{"negative max", negMax, 4, "tokenizer: llama2.c header: max_token_length is out of range (0…65536)"},
		{"huge max", llama2cFile(maxTokenLength+1, []string{"<unk>", "<s>", "</s>", "a"}, []float32{0, 0, 0, -1}), 4, "max_token_length is out of range"},
		{"long token", with(3, 999), 4, "tokenizer: llama2.c token 3: longer than max_token_length"},
		{"negative length", with(1, 0xFFFFFFF0), 4, "tokenizer: llama2.c token 1: negative length"},
		{"missing tokens", good, 5, "tokenizer: llama2.c token 4: the file is truncated"},
		{"truncated record", good[:len(good)-3], 4, "tokenizer: llama2.c token 3: the file is truncated"},
		{"truncated text", good[:len(good)-1], 4, "tokenizer: llama2.c token 3: runs past the end of the file"},
		{"extra tokens", good, 3, "tokenizer: llama2.c: the file holds more than the model's 3 tokens"},
		{"trailing byte", append(slices.Clone(good), 0), 4, "the file holds more than the model's 4 tokens"},
		{"empty tokens", make([]byte, 4+8*4), 4, "tokenizer: llama2.c: the vocabulary is empty"},
	}
	for _, c := range cases {
		_, err := ReadLlama2C(bytes.NewReader(c.data), c.n)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// a lying max_token_length with a huge token length must not allocate it
	huge := llama2cFile(maxTokenLength, []string{"<unk>", "<s>", "</s>"}, []float32{0, 0, 0})
	binary.LittleEndian.PutUint32(huge[lenAt(huge, 2):], maxTokenLength)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadLlama2C(bytes.NewReader(huge), 3); err == nil || !strings.Contains(err.Error(), "token 2: runs past the end of the file") {
		t.Errorf("huge length: %v", err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("reading a lying length allocated %d bytes", d)
	}
	if _, err := LoadLlama2C("/nonexistent/tokenizer.bin", 32000); err == nil || !strings.HasPrefix(err.Error(), "tokenizer: ") {
		t.Errorf("missing file: %v", err)
	}
}

// A tiny vocabulary without byte tokens or " " must not panic.
func TestLlama2CSmallVocab(t *testing.T) {
	tk, err := ReadLlama2C(bytes.NewReader(llama2cFile(5, []string{"<unk>", "<s>", "</s>", "ab", "a", "b"}, []float32{0, 0, 0, 5, 1, 1})), 6)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("abz", true, true); !slices.Equal(got, []int{1, 3, 0, 2}) {
		t.Errorf("Encode = %v, want [1 3 0 2]", got)
	}
}

// LoadLlama2C names the file in its errors and checks its size against
// the model's vocabulary before reading it.
func TestLoadLlama2CErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	zeros := write("zeros.bin", make([]byte, 4+8*512))
	long := write("long.bin", llama2cFile(7, []string{"<unk>", "<s>", "</s>", "a"}, []float32{0, 0, 0, -1}))
	if err := os.Truncate(long, 4<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	small := write("small.bin", llama2cFile(7, []string{"<unk>", "<s>", "</s>", "a"}, []float32{0, 0, 0, -1}))
	for _, c := range []struct {
		path string
		want string
	}{
		{zeros, zeros + ": tokenizer: llama2.c: the vocabulary is empty"},
		{small, small + ": tokenizer: llama2.c: the file is too small for the model's 512 tokens"},
		{dir, "tokenizer: " + dir + ": is a directory"},
		{long, long + ": tokenizer: llama2.c: the file is larger than the model's 512 tokens can be"},
	} {
		if _, err := LoadLlama2C(c.path, 512); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("LoadLlama2C(%s): %v, want an error starting %q", c.path, err, c.want)
		}
	}
}
