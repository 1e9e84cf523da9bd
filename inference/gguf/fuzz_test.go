package gguf

import (
	"bytes"
	"os"
	"testing"
)

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(storiesPath); err == nil {
		f.Add(b)
		if g, err := Decode(b); err == nil {
			f.Add(b[:g.DataOffset]) // header only
		}
	}
	sample := buildSample(f)
	f.Add(sample)
	f.Add(buildSample(f, KV{KeyAlignment, Value{Type: TypeUint32, V: uint32(8)}}))
	small := NewWriter()
	_ = small.AddKV("general.architecture", "llama")
	_ = small.AddKV("tokenizer.ggml.tokens", []string{"<unk>", "▁a"})
	_ = small.AddTensor("w", []uint64{32}, Q8_0, make([]byte, 34))
	var buf bytes.Buffer
	if _, err := small.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(sample[:len(sample)/2])
	f.Add(sample[:40])
	f.Add([]byte{})
	f.Add([]byte("GGUF"))
	f.Add([]byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add(hdr(0, 1).str("a").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(1).u32(uint32(TypeString)).u64(1).str("x").Bytes())
	f.Add(bytes.Repeat([]byte{0xff}, 64))

	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			if g != nil {
				t.Fatal("non-nil File with error")
			}
			return
		}
		// Everything a valid file exposes must be usable.
		for _, kv := range g.KV {
			_ = kv.Value.String()
			_, _ = g.Uint(kv.Key)
			_, _ = g.Int(kv.Key)
			_, _ = g.Float(kv.Key)
			_, _ = g.Int32s(kv.Key)
			_, _ = g.Float32s(kv.Key)
		}
		var total uint64
		for _, ti := range g.Tensors {
			b, err := g.TensorData(ti)
			if err != nil {
				t.Fatalf("TensorData(%q) of a decoded file: %v", ti.Name, err)
			}
			total += uint64(len(b))
			if _, ok := g.Tensor(ti.Name); !ok {
				t.Fatalf("Tensor(%q) missing", ti.Name)
			}
		}
		if g.Alignment > 4096 || total > 1<<24 {
			return // re-encoding would pad hugely
		}
		// Decoded files re-encode, and re-encoding is a fixed point.
		enc := func(g *File) []byte {
			w := NewWriter()
			for _, kv := range g.KV {
				if err := w.AddKV(kv.Key, kv.Value); err != nil {
					t.Fatalf("AddKV(%q): %v", kv.Key, err)
				}
			}
			for _, ti := range g.Tensors {
				b, _ := g.TensorData(ti)
				if err := w.AddTensor(ti.Name, ti.Dims, ti.Type, b); err != nil {
					t.Fatalf("AddTensor(%q): %v", ti.Name, err)
				}
			}
			var buf bytes.Buffer
			if _, err := w.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}
		once := enc(g)
		g2, err := Decode(once)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if twice := enc(g2); !bytes.Equal(once, twice) {
			t.Fatal("re-encoding is not stable")
		}
	})
}
