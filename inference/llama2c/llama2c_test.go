package llama2c

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

const stories = "../../../shared/models/stories260K.bin"

func readStories(t testing.TB) []byte {
	data, err := os.ReadFile(stories)
	if err != nil {
		t.Skipf("test model not present: %v", err)
	}
	return data
}

func header(fields ...int32) []byte {
	b := make([]byte, 4*len(fields))
	for i, f := range fields {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(f))
	}
	return b
}

func TestStories(t *testing.T) {
	ck, err := Decode(readStories(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, Vocab: 512, SeqLen: 512, Shared: true}
	if ck.Config != want {
		t.Fatalf("config %+v, want %+v", ck.Config, want)
	}
	// embedding + 9 tensors per layer + final norm; the classifier is shared.
	if got := len(ck.Tensors); got != 1+9*5+1 {
		t.Fatalf("%d tensors", got)
	}
	for _, tn := range ck.Tensors {
		n := 4
		for _, d := range tn.Shape {
			n *= d
		}
		if len(tn.Data) != n {
			t.Fatalf("%s: %d bytes for shape %v", tn.Name, len(tn.Data), tn.Shape)
		}
	}
	// The file stores each kind for all layers in turn: all attention norms,
	// then all query matrices, and so on.
	if ck.Tensors[1].Name != "blk.0.attn_norm.weight" || ck.Tensors[6].Name != "blk.0.attn_q.weight" {
		t.Fatalf("tensor order: %s, …, %s", ck.Tensors[1].Name, ck.Tensors[6].Name)
	}
}

func TestErrors(t *testing.T) {
	data := readStories(t)
	cases := map[string][]byte{
		"shorter than the":    data[:10],
		"truncated":           data[:len(data)/2],
		"unexpected bytes":    append(append([]byte{}, data...), 1, 2, 3, 4),
		"out of range":        header(64, 172, 5, 8, 4, 512, 0),
		"not divisible":       header(64, 172, 5, 7, 7, 512, 512),
		"multiple of":         header(64, 172, 5, 8, 3, 512, 512),
		"is out of range (1…": header(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30),
	}
	for want, input := range cases {
		_, err := Decode(input)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("input of %d bytes: error %v, want one containing %q", len(input), err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	if data, err := os.ReadFile(stories); err == nil {
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	f.Add(header(64, 172, 5, 8, 4, 512, 512))
	f.Add(header(8, 8, 1, 2, 2, -4, 2))
	f.Add(append(header(2, 2, 1, 1, 1, 3, 1), make([]byte, 4*60)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := Decode(data)
		if err != nil {
			return
		}
		total := headerBytes
		for _, tn := range ck.Tensors {
			total += len(tn.Data)
		}
		if total > len(data) {
			t.Fatalf("tensors cover %d bytes of a %d-byte input", total, len(data))
		}
	})
}
