package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// llama2.c fixes these ids: <unk>, <s>, </s>, then the 256 byte tokens.
const (
	llama2cUnk        = 0
	llama2cBOS        = 1
	llama2cEOS        = 2
	llama2cByteOffset = 3
)

// maxLlama2CVocab bounds the vocabSize argument, so a lying model header
// cannot make ReadLlama2C loop for billions of tokens, and maxTokenLength
// the length of a token (llama2.c's vocabularies stay below 64 bytes).
const (
	maxLlama2CVocab = 1 << 24
	maxTokenLength  = 1 << 16
)

// LoadLlama2C reads a llama2.c tokenizer.bin file, which must be a regular
// file; see ReadLlama2C. A file too small for vocabSize tokens, or larger
// than vocabSize tokens of its max_token_length can be, is refused before
// the tokens are read. Errors about the file's contents start with its
// path.
func LoadLlama2C(path string, vocabSize int) (*Tokenizer, error) {
	f, size, err := mmap.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	if err := checkLlama2CSize(f, size, vocabSize); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := ReadLlama2C(io.NewSectionReader(f, 0, size), vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// checkLlama2CSize checks that a tokenizer.bin of size bytes in f can hold
// exactly vocabSize tokens, from its header alone.
func checkLlama2CSize(f io.ReaderAt, size int64, vocabSize int) error {
	if err := checkVocabSize(vocabSize); err != nil {
		return err
	}
	n := int64(vocabSize)
	if size < 4+8*n {
		return fmt.Errorf("tokenizer: llama2.c: the file is too small for the model's %d tokens", vocabSize)
	}
	var hdr [4]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("tokenizer: llama2.c header: %w", err)
	}
	maxLen, err := maxTokenLen(hdr)
	if err != nil {
		return err
	}
	if size > 4+n*(8+int64(maxLen)) {
		return fmt.Errorf("tokenizer: llama2.c: the file is larger than the model's %d tokens can be", vocabSize)
	}
	return nil
}

// checkVocabSize checks the vocabulary size a model gives.
func checkVocabSize(n int) error {
	if n < 3 || n > maxLlama2CVocab {
		return fmt.Errorf("tokenizer: llama2.c vocab size %d out of range [3, %d]", n, maxLlama2CVocab)
	}
	return nil
}

// maxTokenLen reads and checks a tokenizer.bin's max_token_length.
func maxTokenLen(hdr [4]byte) (int32, error) {
	maxLen := int32(binary.LittleEndian.Uint32(hdr[:]))
	if maxLen < 0 || maxLen > maxTokenLength {
		return 0, fmt.Errorf("tokenizer: llama2.c header: max_token_length is out of range (0…%d)", maxTokenLength)
	}
	return maxLen, nil
}

// ReadLlama2C reads a llama2.c tokenizer.bin: int32 max_token_length (at
// most 65536), then vocabSize records of {float32 score, int32 length,
// length bytes}, all little-endian, and nothing after them. vocabSize comes
// from the model checkpoint (its header's vocab_size); the file does not
// store it, so one that holds more tokens is an error, as is one whose
// tokens are all empty.
//
// The result encodes exactly as llama2.c run.c encode(): BOS = 1, EOS = 2, a
// dummy-prefix " " token when the text is non-empty, each UTF-8 codepoint
// looked up as a piece or else split into byte tokens (byte + 3), then the
// adjacent pair whose concatenation is the best-scoring piece merged until
// none is left. Decode follows run.c decode(): the leading space of a piece
// right after BOS is dropped and "<0xXX>" pieces become the raw byte; unlike
// run.c, BOS and EOS decode to "" (their pieces are "\n<s>\n" and
// "\n</s>\n", which run.c never prints because it stops at BOS).
//
// Malformed input gives an error, never a panic or an allocation larger than
// the data actually read. The format has no magic number, so errors never
// quote what the file holds, only what is wrong with it.
func ReadLlama2C(r io.Reader, vocabSize int) (*Tokenizer, error) {
	if err := checkVocabSize(vocabSize); err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:4]); err != nil {
		return nil, fmt.Errorf("tokenizer: llama2.c header: %w", unexpected(err))
	}
	maxLen, err := maxTokenLen([4]byte(hdr[:4]))
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{
		algo:   algoLlama2C,
		pieces: make([]string, 0, min(vocabSize, 4096)),
		scores: make([]float32, 0, min(vocabSize, 4096)),
		bos:    llama2cBOS,
		eos:    llama2cEOS,
		unk:    llama2cUnk,
	}
	var buf bytes.Buffer
	nonEmpty := false
	for i := 0; i < vocabSize; i++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d: %w", i, unexpected(err))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(hdr[:4]))
		n := int32(binary.LittleEndian.Uint32(hdr[4:]))
		if n < 0 {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d: negative length", i)
		}
		if n > maxLen {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d: longer than max_token_length", i)
		}
		// CopyN grows buf only as bytes arrive, so a length larger than
		// the remaining data costs no more memory than the data itself.
		buf.Reset()
		if _, err := io.CopyN(&buf, br, int64(n)); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("tokenizer: llama2.c token %d: runs past the end of the file", i)
			}
			return nil, fmt.Errorf("tokenizer: llama2.c token %d: %w", i, err)
		}
		nonEmpty = nonEmpty || n > 0
		t.pieces = append(t.pieces, buf.String())
		t.scores = append(t.scores, score)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("tokenizer: llama2.c: %w", err)
		}
		return nil, fmt.Errorf("tokenizer: llama2.c: the file holds more than the model's %d tokens", vocabSize)
	}
	if !nonEmpty {
		return nil, errors.New("tokenizer: llama2.c: the vocabulary is empty (every token is the empty string)")
	}
	t.initLlama2C()
	return t, nil
}

// errTruncated reports a file that ends inside a record.
var errTruncated = fmt.Errorf("the file is truncated: %w", io.ErrUnexpectedEOF)

func unexpected(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

func (t *Tokenizer) initLlama2C() {
	n := len(t.pieces)
	t.ids = make(map[string]int, n)
	for i := n - 1; i >= 0; i-- { // first occurrence wins, like run.c's str_lookup
		t.ids[t.pieces[i]] = i
	}
	t.types = make([]int32, n)
	t.decoded = make([]string, n)
	t.stripBOS = make([]bool, n)
	for i := range t.byteTok {
		t.byteTok[i] = -1
	}
	for i, p := range t.pieces {
		t.types[i] = TypeNormal
		t.decoded[i] = p
		t.stripBOS[i] = len(p) > 0 && p[0] == ' '
		if b, ok := parseByteToken(p); ok {
			t.types[i] = TypeByte
			t.decoded[i] = string([]byte{b})
			if t.byteTok[b] < 0 {
				t.byteTok[b] = i
			}
		}
	}
	t.types[llama2cUnk] = TypeUnknown
	for _, id := range []int{llama2cBOS, llama2cEOS} {
		t.types[id] = TypeControl
		t.decoded[id] = ""
		t.stripBOS[id] = false
	}
	t.initEOG()
	t.eog[llama2cBOS] = true // run.c ends generation when BOS is sampled
}

// encodeLlama2C appends the ids of text as run.c encode() computes them.
func (t *Tokenizer) encodeLlama2C(text string, out []int) []int {
	syms := make([]symbol, 0, len(text)+1)
	if text != "" {
		// add_dummy_prefix; run.c assumes the vocabulary has " "
		if id, ok := t.ids[" "]; ok {
			syms = appendSymbol(syms, t.pieces[id], id)
		}
	}
	// run.c walks the bytes, gathering a leading byte and up to three
	// continuation bytes (without validating them) into one codepoint.
	n := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c&0xC0 != 0x80 {
			n = 0
		}
		n++
		if i+1 < len(text) && text[i+1]&0xC0 == 0x80 && n < 4 {
			continue
		}
		cp := text[i+1-n : i+1]
		if id, ok := t.ids[cp]; ok {
			syms = appendSymbol(syms, t.pieces[id], id)
		} else {
			for j := 0; j < len(cp); j++ {
				id := int(cp[j]) + llama2cByteOffset
				if id >= len(t.pieces) { // run.c would read past its vocabulary
					id = llama2cUnk
				}
				syms = appendSymbol(syms, t.pieces[id], id)
			}
		}
		n = 0
	}
	// run.c merges the pair whose concatenated pieces form the piece with
	// the highest score (strictly above its starting best of -1e10).
	const floor = float32(-1e10)
	var buf []byte
	mergeSymbols(syms, func(l, r string) (int, float64, bool) {
		buf = append(append(buf[:0], l...), r...)
		id, ok := t.ids[string(buf)] // no allocation for a map index
		if !ok || !(t.scores[id] > floor) {
			return 0, 0, false
		}
		return id, float64(t.scores[id]), true
	})
	for i := 0; len(syms) > 0 && i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out
}
