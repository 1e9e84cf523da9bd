package llama2c

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
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
		"shorter than the 28-byte header":         data[:10],
		"describes a model larger than the file":  data[:len(data)/2],
		"larger than the model its header":        append(append([]byte{}, data...), 1, 2, 3, 4),
		"seq_len is out of range":                 header(64, 172, 5, 8, 4, 512, 0),
		"does not split into n_heads":             header(64, 172, 5, 7, 7, 512, 512),
		"n_heads is not a multiple of n_kv_heads": header(64, 172, 5, 8, 3, 512, 512),
		"dim is out of range (1…1048576)":         header(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30),
		"n_layers is out of range (1…1024)":       header(64, 172, 2000, 8, 4, 512, 512),
		"hidden_dim is out of range (1…1048576)":  header(64, -5, 5, 8, 4, 512, 512),
	}
	for want, input := range cases {
		_, err := Decode(input)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "llama2c: ") {
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

func TestOpen(t *testing.T) {
	data := readStories(t)
	ck, err := Open(stories)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	want, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Config != want.Config || len(ck.Tensors) != len(want.Tensors) {
		t.Fatalf("Open gives %+v with %d tensors, Decode %+v with %d", ck.Config, len(ck.Tensors), want.Config, len(want.Tensors))
	}
	for i, tn := range ck.Tensors {
		w := want.Tensors[i]
		if tn.Name != w.Name || tn.Offset != w.Offset || !bytes.Equal(tn.Data, w.Data) || !bytes.Equal(data[tn.Offset:tn.Offset+int64(len(tn.Data))], tn.Data) {
			t.Fatalf("tensor %d: %s at %d, want %s at %d", i, tn.Name, tn.Offset, w.Name, w.Offset)
		}
	}
}

// Open checks the header against the file's size before it reads or maps
// anything else: a huge file whose header describes a small model is
// refused without its bytes coming into memory.
func TestOpenChecksTheSizeFirst(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.bin")
	if err := os.WriteFile(huge, header(64, 172, 5, 8, 4, 512, 512), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 4<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.bin")
	if err := os.WriteFile(small, append(header(64, 172, 5, 8, 4, 512, 512), make([]byte, 1000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		huge:  "huge.bin: llama2c: the file is larger than the model its header describes",
		small: "small.bin: llama2c: the header describes a model larger than the file",
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Open(path)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("Open(%s): %v, want an error ending %q", filepath.Base(path), err, want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("Open(%s) allocated %d bytes", filepath.Base(path), alloc)
		}
	}
}
