package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

const storiesPath = "../../../shared/models/stories260K-f32.gguf"

func storiesBytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(storiesPath)
	if os.IsNotExist(err) {
		t.Skip("stories260K-f32.gguf not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleKVs covers every value type, in a fixed order.
func sampleKVs() []KV {
	return []KV{
		{"general.architecture", Value{Type: TypeString, V: "llama"}},
		{"t.u8", Value{Type: TypeUint8, V: uint8(200)}},
		{"t.i8", Value{Type: TypeInt8, V: int8(-100)}},
		{"t.u16", Value{Type: TypeUint16, V: uint16(60000)}},
		{"t.i16", Value{Type: TypeInt16, V: int16(-30000)}},
		{"t.u32", Value{Type: TypeUint32, V: uint32(4000000000)}},
		{"t.i32", Value{Type: TypeInt32, V: int32(-2000000000)}},
		{"t.f32", Value{Type: TypeFloat32, V: float32(1e-5)}},
		{"t.bool", Value{Type: TypeBool, V: true}},
		{"t.false", Value{Type: TypeBool, V: false}},
		{"t.str", Value{Type: TypeString, V: "héllo ▁world"}},
		{"t.empty", Value{Type: TypeString, V: ""}},
		{"t.u64", Value{Type: TypeUint64, V: uint64(math.MaxUint64)}},
		{"t.i64", Value{Type: TypeInt64, V: int64(math.MinInt64)}},
		{"t.f64", Value{Type: TypeFloat64, V: 10000.5}},
		{"a.u8", Value{Type: TypeArray, Elem: TypeUint8, V: []uint8{1, 2, 255}}},
		{"a.i8", Value{Type: TypeArray, Elem: TypeInt8, V: []int8{-1, 0, 127}}},
		{"a.u16", Value{Type: TypeArray, Elem: TypeUint16, V: []uint16{1, 65535}}},
		{"a.i16", Value{Type: TypeArray, Elem: TypeInt16, V: []int16{-32768, 5}}},
		{"a.u32", Value{Type: TypeArray, Elem: TypeUint32, V: []uint32{7, 4294967295}}},
		{"a.i32", Value{Type: TypeArray, Elem: TypeInt32, V: []int32{-1, 2, 3}}},
		{"a.f32", Value{Type: TypeArray, Elem: TypeFloat32, V: []float32{0.5, -2, float32(math.Inf(1))}}},
		{"a.bool", Value{Type: TypeArray, Elem: TypeBool, V: []bool{true, false, true}}},
		{"a.str", Value{Type: TypeArray, Elem: TypeString, V: []string{"<unk>", "", "▁the"}}},
		{"a.u64", Value{Type: TypeArray, Elem: TypeUint64, V: []uint64{1 << 40}}},
		{"a.i64", Value{Type: TypeArray, Elem: TypeInt64, V: []int64{-1 << 40, 3}}},
		{"a.f64", Value{Type: TypeArray, Elem: TypeFloat64, V: []float64{math.Pi}}},
		{"a.empty", Value{Type: TypeArray, Elem: TypeFloat32, V: []float32{}}},
		{"a.nested", Value{Type: TypeArray, Elem: TypeArray, V: []Value{
			{Type: TypeArray, Elem: TypeInt32, V: []int32{1, 2}},
			{Type: TypeArray, Elem: TypeString, V: []string{"x"}},
		}}},
	}
}

type sampleTensor struct {
	name string
	dims []uint64
	typ  Type
	data []byte
}

func sampleTensors() []sampleTensor {
	fill := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	return []sampleTensor{
		{"token_embd.weight", []uint64{5, 3}, F32, fill(5*3*4, 1)},
		{"blk.0.attn_q.weight", []uint64{64, 2}, Q4_0, fill(2*2*18, 2)},
		{"blk.0.ffn_down.weight", []uint64{256}, Q6_K, fill(210, 3)},
		{"scalar", nil, I32, fill(4, 4)},
		{"odd.f16", []uint64{7, 1, 1, 2}, F16, fill(7*2*2, 5)},
		{"empty", []uint64{0, 4}, F32, nil},
	}
}

func buildSample(t testing.TB, extra ...KV) []byte {
	t.Helper()
	w := NewWriter()
	for _, kv := range append(sampleKVs(), extra...) {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range sampleTensors() {
		if err := w.AddTensor(st.name, st.dims, st.typ, st.data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := buildSample(t)
	if again := buildSample(t); !bytes.Equal(data, again) {
		t.Fatal("writer output is not deterministic")
	}
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset%32 != 0 {
		t.Fatalf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	want := append(sampleKVs(), KV{KeyAlignment, Value{Type: TypeUint32, V: uint32(32)}})
	if len(f.KV) != len(want) {
		t.Fatalf("got %d KVs, want %d", len(f.KV), len(want))
	}
	for i, kv := range want {
		got := f.KV[i]
		if got.Key != kv.Key || !reflect.DeepEqual(got.Value, kv.Value) {
			t.Errorf("KV %d: got %s = %#v, want %s = %#v", i, got.Key, got.Value, kv.Key, kv.Value)
		}
	}
	sts := sampleTensors()
	if len(f.Tensors) != len(sts) {
		t.Fatalf("got %d tensors, want %d", len(f.Tensors), len(sts))
	}
	for i, st := range sts {
		ti := f.Tensors[i]
		if ti.Name != st.name || ti.Type != st.typ || len(ti.Dims) != len(st.dims) || ti.Offset%32 != 0 {
			t.Errorf("tensor %d: %+v", i, ti)
		}
		for j := range st.dims {
			if ti.Dims[j] != st.dims[j] {
				t.Errorf("tensor %q dims %v, want %v", st.name, ti.Dims, st.dims)
			}
		}
		got, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, st.data) {
			t.Errorf("tensor %q data differs", st.name)
		}
		if ti2, ok := f.Tensor(st.name); !ok || ti2.Name != st.name {
			t.Errorf("Tensor(%q) not found", st.name)
		}
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("found a tensor that does not exist")
	}

	// Typed accessors.
	if s, ok := f.String("t.str"); !ok || s != "héllo ▁world" {
		t.Errorf("String = %q %v", s, ok)
	}
	if f.Architecture() != "llama" {
		t.Errorf("Architecture = %q", f.Architecture())
	}
	for key, w := range map[string]uint64{"t.u8": 200, "t.u16": 60000, "t.u32": 4000000000, "t.u64": math.MaxUint64} {
		if u, ok := f.Uint(key); !ok || u != w {
			t.Errorf("Uint(%s) = %d %v", key, u, ok)
		}
	}
	for _, key := range []string{"t.i8", "t.i16", "t.i32", "t.i64", "t.f32", "t.str", "missing"} {
		if u, ok := f.Uint(key); ok {
			t.Errorf("Uint(%s) = %d, want !ok", key, u)
		}
	}
	if i, ok := f.Int("t.i32"); !ok || i != -2000000000 {
		t.Errorf("Int = %d %v", i, ok)
	}
	if _, ok := f.Int("t.u64"); ok {
		t.Error("Int(u64 max) should not fit")
	}
	if x, ok := f.Float("t.f32"); !ok || float32(x) != 1e-5 {
		t.Errorf("Float(f32) = %v %v", x, ok)
	}
	if x, ok := f.Float("t.f64"); !ok || x != 10000.5 {
		t.Errorf("Float(f64) = %v %v", x, ok)
	}
	if _, ok := f.Float("t.u32"); ok {
		t.Error("Float of an integer should fail")
	}
	if b, ok := f.Bool("t.bool"); !ok || !b {
		t.Errorf("Bool = %v %v", b, ok)
	}
	if s, ok := f.Strings("a.str"); !ok || len(s) != 3 || s[2] != "▁the" {
		t.Errorf("Strings = %q %v", s, ok)
	}
	if a, ok := f.Float32s("a.f64"); !ok || len(a) != 1 || a[0] != float32(math.Pi) {
		t.Errorf("Float32s(f64) = %v %v", a, ok)
	}
	if a, ok := f.Int32s("a.i32"); !ok || !reflect.DeepEqual(a, []int32{-1, 2, 3}) {
		t.Errorf("Int32s = %v %v", a, ok)
	}
	if a, ok := f.Int32s("a.u16"); !ok || !reflect.DeepEqual(a, []int32{1, 65535}) {
		t.Errorf("Int32s(u16) = %v %v", a, ok)
	}
	if _, ok := f.Int32s("a.u32"); ok {
		t.Error("Int32s of u32 4294967295 should fail")
	}
	if _, ok := f.Int32s("a.f32"); ok {
		t.Error("Int32s of floats should fail")
	}
	if v, _ := f.Get("a.str"); v.String() != `[string × 3] "<unk>", "", "▁the"` {
		t.Errorf("Value.String = %s", v.String())
	}

	// Re-encoding a decoded file gives the same bytes.
	w := NewWriter()
	for _, kv := range f.KV {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		d, _ := f.TensorData(ti)
		if err := w.AddTensor(ti.Name, ti.Dims, ti.Type, d); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Error("re-encoded file differs")
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.TensorData(f.Tensors[0]); err == nil {
		t.Error("TensorData after Close should fail")
	}
}

func TestAlignmentKV(t *testing.T) {
	data := buildSample(t, KV{KeyAlignment, Value{Type: TypeUint32, V: uint32(64)}})
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Fatalf("alignment %d, data offset %d", f.Alignment, f.DataOffset)
	}
	n := 0
	for _, kv := range f.KV {
		if kv.Key == KeyAlignment {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d alignment keys", n)
	}
	for _, ti := range f.Tensors {
		if ti.Offset%64 != 0 {
			t.Errorf("tensor %q at offset %d", ti.Name, ti.Offset)
		}
	}
	w := NewWriter()
	if err := w.AddKV(KeyAlignment, uint64(16)); err != nil {
		t.Fatal(err) // converted to u32
	}
	for _, bad := range []any{uint32(0), uint32(48), int32(-8), uint64(1 << 33), "32"} {
		if err := NewWriter().AddKV(KeyAlignment, bad); err == nil {
			t.Errorf("alignment %v accepted", bad)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	if err := w.AddKV("k", uint32(1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key string
		v   any
	}{
		{"k", uint32(2)},        // duplicate
		{"i", 5},                // unsized int
		{"u", uint(5)},          // unsized uint
		{"c", complex64(1)},     // unsupported
		{"m", map[string]int{}}, // unsupported
		{"v", Value{Type: TypeUint32, V: int32(1)}},
		{"w", Value{Type: TypeArray, Elem: TypeString, V: []int32{1}}},
	} {
		if err := w.AddKV(c.key, c.v); err == nil {
			t.Errorf("AddKV(%q, %#v) accepted", c.key, c.v)
		}
	}
	if err := w.AddTensor("t", []uint64{4}, F32, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dims []uint64
		typ  Type
		n    int
		want string
	}{
		{"t", []uint64{4}, F32, 16, "duplicate"},
		{"a", []uint64{4}, F32, 15, "15 bytes"},
		{"b", []uint64{33}, Q8_0, 34 * 2, "block size"},
		{"c", []uint64{4}, Type(4), 16, "unknown tensor type"},
		{"d", []uint64{1, 1, 1, 1, 1}, F32, 4, "dimensions"},
		{"e", []uint64{1 << 40, 1 << 40}, F32, 0, "overflow"},
	} {
		err := w.AddTensor(c.name, c.dims, c.typ, make([]byte, c.n))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddTensor(%q): %v, want error containing %q", c.name, err, c.want)
		}
	}
}

func TestTypes(t *testing.T) {
	for _, c := range []struct {
		t         Type
		name      string
		blk, size int
	}{
		{F32, "f32", 1, 4}, {F16, "f16", 1, 2}, {Q4_0, "q4_0", 32, 18}, {Q4_1, "q4_1", 32, 20},
		{Q5_0, "q5_0", 32, 22}, {Q5_1, "q5_1", 32, 24}, {Q8_0, "q8_0", 32, 34}, {Q8_1, "q8_1", 32, 36},
		{Q2_K, "q2_K", 256, 84}, {Q3_K, "q3_K", 256, 110}, {Q4_K, "q4_K", 256, 144},
		{Q5_K, "q5_K", 256, 176}, {Q6_K, "q6_K", 256, 210}, {Q8_K, "q8_K", 256, 292},
		{I8, "i8", 1, 1}, {I16, "i16", 1, 2}, {I32, "i32", 1, 4}, {I64, "i64", 1, 8},
		{F64, "f64", 1, 8}, {BF16, "bf16", 1, 2},
	} {
		if c.t.String() != c.name || c.t.BlockSize() != c.blk || c.t.TypeSize() != c.size {
			t.Errorf("%d: %s %d %d", uint32(c.t), c.t, c.t.BlockSize(), c.t.TypeSize())
		}
		if p, err := ParseType(strings.ToUpper(c.name)); err != nil || p != c.t {
			t.Errorf("ParseType(%s) = %v, %v", c.name, p, err)
		}
	}
	if n, err := Q4_K.RowBytes(512); err != nil || n != 288 {
		t.Errorf("Q4_K.RowBytes(512) = %d, %v", n, err)
	}
	if _, err := Q4_K.RowBytes(100); err == nil {
		t.Error("RowBytes(100) of Q4_K should fail")
	}
	if _, err := Type(99).RowBytes(1); err == nil || Type(99).Known() || Type(99).BlockSize() != 0 {
		t.Error("unknown type accepted")
	}
	if _, err := I64.RowBytes(1 << 62); err == nil {
		t.Error("RowBytes overflow not caught")
	}
	if Type(99).String() != "type(99)" {
		t.Error(Type(99).String())
	}
}

func TestStories(t *testing.T) {
	data := storiesBytes(t)
	f, err := Open(storiesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.KV) != len(f.KV) || len(g.Tensors) != len(f.Tensors) {
		t.Fatal("Open and Decode disagree")
	}
	if f.Version != 3 || f.Architecture() != "llama" {
		t.Fatalf("version %d architecture %q", f.Version, f.Architecture())
	}
	for key, want := range map[string]uint64{
		"llama.embedding_length":                 64,
		"llama.block_count":                      5,
		"llama.attention.head_count":             8,
		"llama.attention.head_count_kv":          4,
		"llama.feed_forward_length":              172,
		"llama.context_length":                   128,
		"llama.rope.dimension_count":             8,
		"tokenizer.ggml.bos_token_id":            1,
		"tokenizer.ggml.eos_token_id":            2,
		"tokenizer.ggml.unknown_token_id":        0,
		"llama.attention.layer_norm_rms_epsilon": 0, // checked below as float
	} {
		if key == "llama.attention.layer_norm_rms_epsilon" {
			if eps, ok := f.Float(key); !ok || eps <= 0 || eps > 1e-3 {
				t.Errorf("%s = %v %v", key, eps, ok)
			}
			continue
		}
		got, ok := f.Uint(key)
		if key == "llama.context_length" {
			if !ok || got == 0 {
				t.Errorf("%s = %d %v", key, got, ok)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s = %d %v, want %d", key, got, ok, want)
		}
	}
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) != 512 {
		t.Fatalf("tokens: %d %v", len(tokens), ok)
	}
	if scores, ok := f.Float32s("tokenizer.ggml.scores"); !ok || len(scores) != 512 {
		t.Errorf("scores: %d %v", len(scores), ok)
	}
	if tt, ok := f.Int32s("tokenizer.ggml.token_type"); !ok || len(tt) != 512 {
		t.Errorf("token_type: %d %v", len(tt), ok)
	}
	if len(f.Tensors) < 40 || len(f.Tensors) > 60 {
		t.Errorf("%d tensors", len(f.Tensors))
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || len(emb.Dims) != 2 || emb.Dims[0] != 64 || emb.Dims[1] != 512 || emb.Type != F32 {
		t.Errorf("token_embd.weight: %+v %v", emb, ok)
	}
	for _, name := range []string{"blk.0.attn_q.weight", "blk.4.ffn_down.weight", "output_norm.weight"} {
		if _, ok := f.Tensor(name); !ok {
			t.Errorf("missing %s", name)
		}
	}
	if q, ok := f.Tensor("blk.0.attn_k.weight"); !ok || q.Dims[0] != 64 || q.Dims[1] != 32 {
		t.Errorf("blk.0.attn_k.weight: %+v", q)
	}
	if d, ok := f.Tensor("blk.0.ffn_down.weight"); !ok || d.Dims[0] != 172 || d.Dims[1] != 64 {
		t.Errorf("blk.0.ffn_down.weight: %+v", d)
	}
	var total uint64
	for _, ti := range f.Tensors {
		b, err := f.TensorData(ti)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(b)) != ti.NumElements()*4 {
			t.Errorf("%s: %d bytes for %v", ti.Name, len(b), ti.Dims)
		}
		total += ti.NumElements()
	}
	if total < 200_000 || total > 400_000 {
		t.Errorf("%d parameters", total)
	}
	// Dump everything with -v, for people wiring a model loader.
	for _, kv := range f.KV {
		t.Logf("%-45s %-7s %s", kv.Key, kv.Value.Type, kv.Value)
	}
	for _, ti := range f.Tensors {
		t.Logf("tensor %-28s %-4s %v @%d", ti.Name, ti.Type, ti.Dims, ti.Offset)
	}
}

// lastDataEnd returns where the last tensor's data ends.
func lastDataEnd(t testing.TB, f *File) int {
	end := f.DataOffset
	for _, ti := range f.Tensors {
		n, err := ti.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		end = max(end, f.DataOffset+ti.Offset+n)
	}
	if len(f.Tensors) == 0 {
		return 0
	}
	return int(end)
}

func TestTruncation(t *testing.T) {
	files := map[string][]byte{"sample": buildSample(t)}
	if b, err := os.ReadFile(storiesPath); err == nil {
		files["stories"] = b
	}
	for name, data := range files {
		f, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		end := lastDataEnd(t, f)
		for n := 0; n < end; n++ {
			switch {
			case n > int(f.DataOffset):
				n += 996 // tensor data: sparse
			case n > 4096:
				n += 60 // rest of the header
			}
			n = min(n, end-1)
			if _, err := Decode(data[:n:n]); err == nil {
				t.Fatalf("%s truncated to %d of %d bytes decoded without error", name, n, len(data))
			}
		}
	}
}

// header builds a raw GGUF header.
type raw struct{ bytes.Buffer }

func (r *raw) u32(v uint32) *raw { binary.Write(r, binary.LittleEndian, v); return r }
func (r *raw) u64(v uint64) *raw { binary.Write(r, binary.LittleEndian, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) pad(n int) *raw    { r.Write(make([]byte, n)); return r }

func hdr(nTensors, nKV uint64) *raw {
	r := &raw{}
	r.WriteString("GGUF")
	return r.u32(3).u64(nTensors).u64(nKV)
}

func TestMalformed(t *testing.T) {
	// A valid one-tensor file to tweak: data at 32-byte alignment.
	tensor := func(name string, nd uint32, dims []uint64, typ uint32, off uint64) *raw {
		r := hdr(1, 0).str(name).u32(nd)
		for _, d := range dims {
			r.u64(d)
		}
		r.u32(typ).u64(off)
		return r
	}
	okFile := tensor("w", 1, []uint64{8}, uint32(F32), 0)
	okFile.pad(int(alignUp(uint64(okFile.Len()), 32)) - okFile.Len() + 32)
	if _, err := Decode(okFile.Bytes()); err != nil {
		t.Fatalf("base file: %v", err)
	}

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "gguf: not a GGUF file"},
		{"magic", []byte("GGML\x03\x00\x00\x00"), "gguf: not a GGUF file (no GGUF magic)"},
		{"v1", (&raw{}).pad(0).u32(0x46554747).u32(1).Bytes(), "version 1"},
		{"big-endian", (&raw{}).u32(0x46554747).u32(0x03000000).Bytes(), "big-endian"},
		{"v9", (&raw{}).u32(0x46554747).u32(9).Bytes(), "gguf: unsupported GGUF version"},
		{"tensors 2^40", hdr(1<<40, 0).Bytes(), "gguf: tensor count: more than the rest of the file can hold"},
		{"kvs 2^40", hdr(0, 1<<40).Bytes(), "metadata count"},
		{"kvs 2^64-1", hdr(0, math.MaxUint64).Bytes(), "metadata count"},
		{"key length 2^40", hdr(0, 1).u64(1 << 40).pad(16).Bytes(), "gguf: metadata 0: key: a string runs past the end of the file"},
		{"string length 2^40", hdr(0, 1).str("k").u32(uint32(TypeString)).u64(1 << 40).pad(8).Bytes(), "gguf: metadata 0 (k): string value: a string runs past the end of the file"},
		{"array length 2^40", hdr(0, 1).str("arr").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1 << 40).pad(8).Bytes(), "gguf: metadata 0 (arr): array length"},
		{"string array 2^40", hdr(0, 1).str("arr").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).pad(8).Bytes(), "gguf: metadata 0 (arr): array length"},
		{"array elem type", hdr(0, 1).str("arr").u32(uint32(TypeArray)).u32(77).u64(1).Bytes(), "gguf: metadata 0 (arr): unknown array element type"},
		{"value type", hdr(0, 1).str("odd").u32(13).pad(8).Bytes(), "gguf: metadata 0 (odd): unknown value type"},
		{"dup key", hdr(0, 2).str("k").u32(uint32(TypeUint8)).pad(1).str("k").u32(uint32(TypeUint8)).pad(1).Bytes(), "gguf: metadata 1 (k): duplicate key"},
		{"alignment type", hdr(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32).Bytes(), "want u32"},
		{"alignment 48", hdr(0, 1).str(KeyAlignment).u32(uint32(TypeUint32)).u32(48).Bytes(), "gguf: general.alignment is not a power of two"},
		{"dims 2^40", tensor("blk.0.attn_q.weight", 1<<30, nil, 0, 0).pad(64).Bytes(), "gguf: tensor 0 (blk.0.attn_q.weight): more than 4 dimensions"},
		{"dims overflow", tensor("big", 4, []uint64{1 << 32, 1 << 32, 1 << 32, 1}, 0, 0).pad(64).Bytes(), "gguf: tensor 0 (big): its element count overflows"},
		{"dim too large", tensor("big", 1, []uint64{1 << 63}, 0, 0).pad(64).Bytes(), "gguf: tensor 0 (big): dimension 0 is out of range"},
		{"bytes overflow", tensor("big", 2, []uint64{1 << 31, 1 << 31}, uint32(F64), 0).pad(64).Bytes(), "gguf: tensor 0 (big): the size of its data as f64 overflows"},
		{"tensor type", tensor("blk.0.attn_q.weight", 1, []uint64{8}, 5, 0).pad(64).Bytes(), "gguf: tensor 0 (blk.0.attn_q.weight): unknown tensor type"},
		{"block size", tensor("q", 1, []uint64{8}, uint32(Q4_0), 0).pad(64).Bytes(), "gguf: tensor 0 (q): row length is not a multiple of the q4_0 block size 32"},
		{"misaligned", tensor("m", 1, []uint64{8}, 0, 4).pad(64).Bytes(), "gguf: tensor 0 (m): offset is not a multiple of the alignment"},
		{"beyond", tensor("blk.0.attn_q.weight", 1, []uint64{8}, 0, 1<<20).pad(64).Bytes(), "gguf: tensor 0 (blk.0.attn_q.weight): its data runs past the end of the file"},
		{"offset overflow", tensor("o", 1, []uint64{8}, 0, math.MaxUint64&^31).pad(64).Bytes(), "gguf: tensor 0 (o): its data runs past the end of the file"},
		{"dup tensor", func() []byte {
			r := hdr(2, 0).str("a").u32(1).u64(8).u32(0).u64(0).str("a").u32(1).u64(8).u32(0).u64(32)
			return r.pad(128).Bytes()
		}(), "gguf: tensor 1 (a): duplicate name"},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(c.data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: allocated %d bytes", c.name, alloc)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir + "/missing.gguf"); err == nil {
		t.Error("missing file opened")
	}
	empty := dir + "/empty.gguf"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(empty); err == nil {
		t.Error("empty file opened")
	}
	bad := dir + "/bad.gguf"
	if err := os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "bad.gguf") {
		t.Errorf("bad file: %v", err)
	}
	good := dir + "/good.gguf"
	if err := os.WriteFile(good, buildSample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.TensorData(f.Tensors[0])
	if err != nil || len(d) != 60 {
		t.Fatalf("%d bytes, %v", len(d), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}
