package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sample() []Tensor {
	return []Tensor{
		{Name: "b", DType: F32, Shape: []int{2, 3}, Data: bytes.Repeat([]byte{1, 2, 3, 4}, 6)},
		{Name: "a", DType: BF16, Shape: []int{4}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "c", DType: F16, Shape: []int{}, Data: []byte{9, 10}},
		{Name: "empty", DType: F32, Shape: []int{0, 5}, Data: []byte{}},
	}
}

func encode(t testing.TB, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withHeader is a file with the JSON header js and data bytes of data.
func withHeader(js string, data int) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	return append(append(out, js...), make([]byte, data)...)
}

func TestRoundTrip(t *testing.T) {
	meta := map[string]string{"format": "pt"}
	f, err := Parse(encode(t, sample(), meta))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Metadata) != 1 {
		t.Errorf("metadata %v", f.Metadata)
	}
	var names []string
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c", "empty"}) {
		t.Errorf("tensors %v, want sorted by name", names)
	}
	for _, want := range sample() {
		got, ok := f.Tensor(want.Name)
		if !ok || got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %s = %+v, want %+v", want.Name, got, want)
		}
	}
	if _, ok := f.Tensor("zz"); ok {
		t.Error("found a tensor that is not there")
	}
}

func TestLyingHeaders(t *testing.T) {
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "safetensors: shorter than the 8-byte header length"},
		{"huge header", append(huge, "{}"...), "safetensors: the header length is over the limit of 100000000 bytes"},
		{"header past end", withHeader("{}", 0)[:9], "safetensors: the header runs past the end of the file"},
		{"not JSON", withHeader("{", 0), "safetensors: the header is not a JSON object"},
		{"not an object", withHeader("[]", 0), "safetensors: the header is not a JSON object"},
		{"dtype", withHeader(`{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8), `tensor x: dtype "I64" is not supported`},
		{"offsets out of range", withHeader(`{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), "outside the 8-byte data section"},
		{"offsets reversed", withHeader(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "outside"},
		{"negative offset", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 8), "outside"},
		{"shape vs bytes", withHeader(`{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "takes 12 bytes"},
		{"negative dim", withHeader(`{"x":{"dtype":"F32","shape":[-2,-1],"data_offsets":[0,8]}}`, 8), "out of range"},
		{"shape overflow", withHeader(`{"x":{"dtype":"F32","shape":[8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8],"data_offsets":[0,8]}}`, 8), "needs more bytes"},
		{"overlap", withHeader(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "overlaps"},
		{"hole", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "bytes 0…4 of the data section belong to no tensor"},
		{"tail", withHeader(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8), "bytes 4…8"},
		{"metadata", withHeader(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, SingleFile), encode(t, sample(), nil))
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, want := range sample() {
		if got := c.Tensors[want.Name]; !bytes.Equal(got.Data, want.Data) || !slices.Equal(got.Shape, want.Shape) {
			t.Errorf("tensor %s = %+v, want %+v", want.Name, got, want)
		}
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has neither") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestSharded(t *testing.T) {
	ts := sample()
	shard := func(t *testing.T, index string) (*Checkpoint, error) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), encode(t, ts[:2], nil))
		writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), encode(t, ts[2:], nil))
		writeFile(t, filepath.Join(dir, IndexFile), []byte(index))
		return OpenDir(dir)
	}
	good := `{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",
		"c":"model-00002-of-00002.safetensors","empty":"model-00002-of-00002.safetensors"}}`
	c, err := shard(t, good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Tensors) != len(ts) {
		t.Errorf("%d tensors, want %d", len(c.Tensors), len(ts))
	}
	for _, want := range ts {
		if got := c.Tensors[want.Name]; !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %s = %+v, want %+v", want.Name, got, want)
		}
	}
	for _, bad := range []struct{ index, want string }{
		{`{"weight_map":{}}`, "no weight_map"},
		{strings.Replace(good, `"a":"model-00001`, `"a":"../model-00001`, 1), "not a file name"},
		{strings.Replace(good, `"a":"model-00001`, `"a":"model-00002`, 1), "tensor a: the index places it in \"model-00002-of-00002.safetensors\", but shard model-00001-of-00002.safetensors holds it"},
		{strings.Replace(good, `"b":"model-00001-of-00002.safetensors",`, `"b":"model-00001-of-00002.safetensors","d":"model-00002-of-00002.safetensors",`, 1), "does not hold it"},
		{strings.Replace(good, `"a":"model-00001-of-00002.safetensors",`, ``, 1), `the index places it in ""`},
		{strings.ReplaceAll(good, "model-00002", "model-00003"), "no such file"},
	} {
		if c, err := shard(t, bad.index); err == nil || !strings.Contains(err.Error(), bad.want) {
			if c != nil {
				c.Close()
			}
			t.Errorf("index %s: error %v, want one containing %q", bad.index, err, bad.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encode(f, sample(), map[string]string{"format": "pt"}))
	f.Add(encode(f, nil, nil))
	f.Add(withHeader(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8))
	f.Add(withHeader(`{"x":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8))
	f.Add(withHeader(`{"x":{"dtype":"F16","shape":[9223372036854775807,2],"data_offsets":[0,8]}}`, 8))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 1<<62), "{}"...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			if file != nil {
				t.Fatal("a File with an error")
			}
			return
		}
		total := 0
		for i, x := range file.Tensors {
			n := x.DType.Size()
			for _, d := range x.Shape {
				n *= d
			}
			if n != len(x.Data) || n == 0 && x.DType.Size() == 0 {
				t.Fatalf("tensor %s: %d bytes for %v of %s", x.Name, len(x.Data), x.Shape, x.DType)
			}
			if i > 0 && file.Tensors[i-1].Name >= x.Name {
				t.Fatalf("tensors not sorted: %s before %s", file.Tensors[i-1].Name, x.Name)
			}
			total += n
		}
		if total > len(data) {
			t.Fatalf("tensors hold %d bytes of a %d-byte file", total, len(data))
		}
		// A parsed file writes back to one that parses to the same tensors.
		again, err := Parse(encode(t, file.Tensors, file.Metadata))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range file.Tensors {
			if y, ok := again.Tensor(x.Name); !ok || !bytes.Equal(x.Data, y.Data) || !slices.Equal(x.Shape, y.Shape) || x.DType != y.DType {
				t.Fatalf("tensor %s rewritten as %+v", x.Name, y)
			}
		}
	})
}
