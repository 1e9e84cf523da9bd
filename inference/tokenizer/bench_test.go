package tokenizer

import (
	"strings"
	"testing"
)

var benchText = strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ", 20)

func BenchmarkEncodeLlama2C(b *testing.B) {
	tk := loadTok512(b)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.Encode(benchText, true, false)
	}
}

func BenchmarkEncodeBPE(b *testing.B) {
	tk := newTestBPE().build(b, "llama3")
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.Encode(benchText, true, false)
	}
}

func BenchmarkDecodeAllLlama2C(b *testing.B) {
	tk := loadTok512(b)
	ids := tk.Encode(benchText, true, false)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.DecodeAll(ids)
	}
}
