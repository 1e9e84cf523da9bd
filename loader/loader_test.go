package loader

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/llama2c"
	"github.com/ipfs-accelerate/accel/inference/quant"
	"github.com/ipfs-accelerate/accel/inference/synth"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

const models = "../../shared/models"

// The reference greedy continuation of "Once upon a time" (shared/models/README.md).
const referencePrefix = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball."

func modelPath(t testing.TB, file string) string {
	t.Helper()
	path := filepath.Join(models, file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("test model not present: %v", err)
	}
	return path
}

func llama2cSource(t testing.TB) Source {
	return Source{Path: modelPath(t, "stories260K.bin"), Tokenizer: modelPath(t, "tok512.bin")}
}

func ggufSource(t testing.TB) Source {
	return Source{Path: modelPath(t, "stories260K-f32.gguf")}
}

func newStore() blockstore.Blockstore {
	return blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
}

func importInto(t testing.TB, bs blockstore.Blockstore, src Source, opts ImportOptions) (cid.Cid, *Manifest) {
	t.Helper()
	root, m, err := Import(context.Background(), src, opts, dagstore.New(bs))
	if err != nil {
		t.Fatal(err)
	}
	return root, m
}

func openModel(t testing.TB, src Source, opts ImportOptions) (*Model, blockstore.Blockstore) {
	t.Helper()
	bs := newStore()
	root, _ := importInto(t, bs, src, opts)
	m, err := Open(context.Background(), root, bs)
	if err != nil {
		t.Fatal(err)
	}
	return m, bs
}

// greedy is the 64-token greedy continuation of "Once upon a time".
func greedy(t *testing.T, m *llama.Model) string {
	t.Helper()
	var out strings.Builder
	_, err := generate.Run(context.Background(), m, "Once upon a time", generate.Options{MaxTokens: 64}, func(s string) error {
		out.WriteString(s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return "Once upon a time" + out.String()
}

// The model built from the DAG generates what the model loaded straight from
// the file generates, and that starts with the reference text.
func TestDAGModelGenerates(t *testing.T) {
	for _, c := range []struct {
		name string
		src  func(testing.TB) Source
	}{{"llama2c", llama2cSource}, {"gguf", ggufSource}} {
		t.Run(c.name, func(t *testing.T) {
			src := c.src(t)
			direct, err := llama.Open(src.Path, llama.Options{Tokenizer: src.Tokenizer})
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			m, _ := openModel(t, src, ImportOptions{})
			dag, err := m.LlamaModel(context.Background(), llama.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if dag.Config != direct.Config {
				t.Errorf("config from the DAG %+v, from the file %+v", dag.Config, direct.Config)
			}
			got, want := greedy(t, dag), greedy(t, direct)
			if !strings.HasPrefix(got, referencePrefix) {
				t.Errorf("DAG model generates %q, want the reference %q…", got, referencePrefix)
			}
			if got != want {
				t.Errorf("DAG model generates\n%q\nthe file's model\n%q", got, want)
			}
			if ids := dag.Tokenizer.Encode("Once upon a time", true, false); !slices.Equal(ids, []int{1, 403, 407, 261, 378}) {
				t.Errorf("DAG tokenizer encodes %v", ids)
			}
		})
	}
}

// The synthesized llama2.c metadata is what llama.cpp's
// convert-llama2c-to-ggml wrote into stories260K-f32.gguf (but for the
// context length, which the converter takes from its own -c default).
func TestLlama2CMetadataMatchesConverter(t *testing.T) {
	src := llama2cSource(t)
	ck, err := llama2c.Open(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	meta, err := llama2cMetadata(ck.Config, src.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	file, err := tokenizerFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := gguf.Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := gguf.Open(ggufSource(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var keys, refKeys []string
	for _, kv := range ours.KV {
		keys = append(keys, kv.Key)
	}
	for _, kv := range ref.KV {
		refKeys = append(refKeys, kv.Key)
	}
	// Our writer appends general.alignment; the converter's file has none.
	if !slices.Equal(keys[:len(keys)-1], refKeys) || keys[len(keys)-1] != gguf.KeyAlignment {
		t.Fatalf("keys\n%v\nconverter's\n%v", keys, refKeys)
	}
	for _, kv := range ref.KV {
		got, _ := ours.Get(kv.Key)
		if kv.Key == "llama.context_length" {
			if n, _ := got.Uint(); n != 512 {
				t.Errorf("context length %d, want the checkpoint's 512", n)
			}
			continue
		}
		if got.Type != kv.Value.Type || got.Elem != kv.Value.Elem || !sameValue(got.V, kv.Value.V) {
			t.Errorf("%s = %v, the converter wrote %v", kv.Key, got, kv.Value)
		}
	}
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	case []int32:
		return slices.Equal(a, b.([]int32))
	case []float32:
		bb := b.([]float32)
		return len(a) == len(bb) && bytes.Equal(quant.Float32Bytes(a), quant.Float32Bytes(bb))
	}
	return a == b
}

func TestComponentOrderAndPriorities(t *testing.T) {
	for _, c := range []struct {
		src  func(testing.TB) Source
		head []string
	}{
		{llama2cSource, []string{"output_norm.weight"}}, // shared classifier
		{ggufSource, []string{"output_norm.weight", "output.weight"}},
	} {
		_, m := importInto(t, newStore(), c.src(t), ImportOptions{})
		var names []string
		for i, comp := range m.Components {
			names = append(names, comp.Name)
			if comp.Priority != Priority(comp.Name) {
				t.Errorf("%s has priority %d", comp.Name, comp.Priority)
			}
			if i > 0 && len(comp.Tensors) == 0 {
				t.Errorf("%s has no tensors", comp.Name)
			}
		}
		want := []string{"tokenizer", "embed", "layer.0", "layer.1", "layer.2", "layer.3", "layer.4", "head"}
		if !slices.Equal(names, want) {
			t.Errorf("components %v, want %v", names, want)
		}
		prio := map[string]int{"tokenizer": 0, "embed": 1, "head": 2, "layer.0": 3, "layer.4": 7}
		for name, p := range prio {
			if Priority(name) != p {
				t.Errorf("Priority(%s) = %d, want %d", name, Priority(name), p)
			}
		}
		if len(m.Components[0].Tensors) != 0 {
			t.Error("the tokenizer component lists tensors")
		}
		var head []string
		for _, tn := range m.Components[len(m.Components)-1].Tensors {
			head = append(head, tn.Name)
		}
		if !slices.Equal(head, c.head) {
			t.Errorf("head holds %v, want %v", head, c.head)
		}
		layer := m.Components[2].Tensors
		if len(layer) != 9 || layer[0].Name != "blk.0.attn_norm.weight" || layer[8].Name != "blk.0.ffn_down.weight" {
			t.Errorf("layer.0 holds %v", layer)
		}
		for _, comp := range m.Components {
			for _, tn := range comp.Tensors {
				if tn.Format != "f32" || tn.Offset%TensorAlignment != 0 {
					t.Errorf("%s: format %s offset %d", tn.Name, tn.Format, tn.Offset)
				}
			}
		}
	}
}

// Every tensor read by range is the source tensor's bytes.
func TestReadTensorRangeMatchesSource(t *testing.T) {
	ctx := context.Background()
	src := ggufSource(t)
	g, err := gguf.Open(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m, _ := openModel(t, src, ImportOptions{})
	n := 0
	for _, info := range g.Tensors {
		want, err := g.TensorData(info)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.ReadTensorRange(ctx, info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("tensor %s differs from the source", info.Name)
		}
		n++
	}
	if n != 48 {
		t.Errorf("checked %d tensors", n)
	}
	// The same through the llama2.c checkpoint.
	ck, err := llama2c.Open(llama2cSource(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	m2, _ := openModel(t, llama2cSource(t), ImportOptions{})
	for _, tn := range ck.Tensors {
		got, err := m2.ReadTensorRange(ctx, tn.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tn.Data) {
			t.Errorf("tensor %s differs from the llama2.c checkpoint", tn.Name)
		}
	}
	if _, err := m.ReadTensorRange(ctx, "nope.weight"); err == nil {
		t.Error("reading an unknown tensor succeeded")
	}
	if _, err := m.ReadRange(ctx, "embed", 0, m.Manifest.Components[1].Size+1); err == nil {
		t.Error("reading past a component succeeded")
	}
}

// countingGetter records the CIDs fetched through it.
type countingGetter struct {
	BlockGetter
	mu      sync.Mutex
	fetched map[cid.Cid]bool
}

func (c *countingGetter) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	c.mu.Lock()
	c.fetched[k] = true
	c.mu.Unlock()
	return c.BlockGetter.Get(ctx, k)
}

// writeSynth writes a random synthetic model to a temporary GGUF file.
func writeSynth(t testing.TB, s synth.Shape, typ gguf.Type) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteGGUF(f, s, typ); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A range read fetches the blocks that hold the range, not the component.
func TestReadRangeFetchesPart(t *testing.T) {
	ctx := context.Background()
	shape := synth.Shape{Dim: 512, HiddenDim: 1536, Layers: 1, Heads: 8, KVHeads: 4, Vocab: 512, SeqLen: 64, Seed: 7}
	path := writeSynth(t, shape, gguf.F32)
	bs := newStore()
	root, man := importInto(t, bs, Source{Path: path}, ImportOptions{ChunkSize: MinChunkSize})
	layer, _ := man.Component("layer.0")
	leaves := (layer.Size + MinChunkSize - 1) / MinChunkSize
	if leaves < 40 {
		t.Fatalf("layer.0 has only %d leaves", leaves)
	}
	getter := &countingGetter{BlockGetter: bs, fetched: map[cid.Cid]bool{}}
	m, err := Open(ctx, root, getter)
	if err != nil {
		t.Fatal(err)
	}
	clear(getter.fetched)
	got, err := m.ReadTensorRange(ctx, "blk.0.ffn_norm.weight")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	info, _ := g.Tensor("blk.0.ffn_norm.weight")
	want, _ := g.TensorData(info)
	if !bytes.Equal(got, want) {
		t.Error("range read differs from the source tensor")
	}
	// the file's root and the one or two leaves the tensor spans
	if n := len(getter.fetched); n > 3 {
		t.Errorf("reading a %d-byte tensor fetched %d blocks of a %d-leaf component", len(got), n, leaves)
	}
	t.Logf("read %d bytes: fetched %d of %d+1 blocks", len(got), len(getter.fetched), leaves)
}

// Precision plans store the formats the plan gives, and the model runs
// exactly as the engine runs the same plan applied on load.
func TestPrecisionPlans(t *testing.T) {
	src := llama2cSource(t)
	for _, name := range []string{"q4", "mixed"} {
		t.Run(name, func(t *testing.T) {
			plan, err := quant.ParsePlan(name)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := openModel(t, src, ImportOptions{Precision: &plan})
			if m.Manifest.Precision != plan.String() {
				t.Errorf("precision %q, want %q", m.Manifest.Precision, plan.String())
			}
			formats := map[string]bool{}
			for _, c := range m.Manifest.Components {
				for _, tn := range c.Tensors {
					want := plan.FormatFor(tn.Name, tn.Shape).String()
					if len(tn.Shape) == 1 {
						want = "f32"
					}
					if tn.Format != want {
						t.Errorf("%s stored as %s, the plan says %s", tn.Name, tn.Format, want)
					}
					formats[tn.Format] = true
				}
			}
			t.Logf("formats: %v", formats)
			if name == "q4" && !formats["int4g64a"] || name == "mixed" && (!formats["int2g128"] || !formats["int3g64"]) {
				t.Errorf("unexpected formats %v", formats)
			}
			dag, err := m.LlamaModel(context.Background(), llama.Options{})
			if err != nil {
				t.Fatal(err)
			}
			direct, err := llama.Open(src.Path, llama.Options{Tokenizer: src.Tokenizer, Precision: plan})
			if err != nil {
				t.Fatal(err)
			}
			got, want := greedy(t, dag), greedy(t, direct)
			if got != want {
				t.Errorf("DAG model generates\n%q\nthe engine with the same plan\n%q", got, want)
			}
		})
	}
}

// Golden values: the same input and options give these CIDs on every
// machine. A change here changes every published model's CID.
var goldenRoots = map[string]string{
	"llama2c":    "bafyreih5nziamlfgjyd6kmlvwz7yzyte4yci7l2jsncbyeaqgiygotvv4a",
	"gguf":       "bafyreibhzpy64jzlcialwnw3w5kakmcwuewrd4lamg5rahjxpgxeujsebm",
	"llama2c-q4": "bafyreifktfndq33tehzqoz6dtxrkkwoyqqkqkyvdvywxjqy3olflq6nwbm",
}

func TestDeterministicCIDs(t *testing.T) {
	q4, _ := quant.ParsePlan("q4")
	for _, c := range []struct {
		name string
		src  func(testing.TB) Source
		opts ImportOptions
	}{
		{"llama2c", llama2cSource, ImportOptions{}},
		{"gguf", ggufSource, ImportOptions{}},
		{"llama2c-q4", llama2cSource, ImportOptions{Precision: &q4, ChunkSize: MinChunkSize}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r1, m1 := importInto(t, newStore(), c.src(t), c.opts)
			r2, m2 := importInto(t, newStore(), c.src(t), c.opts)
			if !r1.Equals(r2) {
				t.Errorf("two imports give roots %s and %s", r1, r2)
			}
			for i := range m1.Components {
				if !m1.Components[i].CID.Equals(m2.Components[i].CID) {
					t.Errorf("component %s: %s vs %s", m1.Components[i].Name, m1.Components[i].CID, m2.Components[i].CID)
				}
			}
			if r1.Version() != 1 || r1.Type() != cid.DagCBOR || r1.Prefix().MhType != 0x12 {
				t.Errorf("root %s is not CIDv1 dag-cbor sha2-256", r1)
			}
			if want := goldenRoots[c.name]; r1.String() != want {
				t.Errorf("root %s, golden %s", r1, want)
			}
		})
	}
}

// The manifest of the llama2.c import, field by field.
func TestManifestGolden(t *testing.T) {
	_, m := importInto(t, newStore(), llama2cSource(t), ImportOptions{})
	h := m.Hyperparameters
	want := Hyperparameters{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8, RopeDim: 8,
		Vocab: 512, Context: 512, RopeTheta: 10000, NormEps: float64(float32(1e-5)), TiedOutput: true}
	if h != want || m.Version != "accel-model/1" || m.Architecture != "llama" || m.Precision != "" {
		t.Errorf("manifest header %q %q %q %+v", m.Version, m.Architecture, m.Precision, h)
	}
	layer := m.Components[2]
	var got []string
	for _, tn := range layer.Tensors {
		got = append(got, strings.Join([]string{tn.Name, tn.Format, strconv.FormatInt(tn.Offset, 10), strconv.FormatInt(tn.Length, 10)}, " "))
	}
	wantLayer := []string{
		"blk.0.attn_norm.weight f32 0 256",
		"blk.0.attn_q.weight f32 256 16384",
		"blk.0.attn_k.weight f32 16640 8192",
		"blk.0.attn_v.weight f32 24832 8192",
		"blk.0.attn_output.weight f32 33024 16384",
		"blk.0.ffn_norm.weight f32 49408 256",
		"blk.0.ffn_gate.weight f32 49664 44032",
		"blk.0.ffn_up.weight f32 93696 44032",
		"blk.0.ffn_down.weight f32 137728 44032",
	}
	if !slices.Equal(got, wantLayer) || layer.Size != 181760 {
		t.Errorf("layer.0 (%d bytes):\n%s", layer.Size, strings.Join(got, "\n"))
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := again.Encode(); !bytes.Equal(d2, data) {
		t.Error("manifest does not round-trip")
	}
	// The top-level map: five keys in dag-cbor's length-first order,
	// "version" first.
	if want := "\xa5\x67version\x6daccel-model/1\x69precision\x60\x6acomponents"; !bytes.HasPrefix(data, []byte(want)) {
		t.Errorf("manifest starts %q", data[:40])
	}
}

// WriteGGUF gives a file the engine opens with the source's logits.
func TestWriteGGUF(t *testing.T) {
	ctx := context.Background()
	prompt := []int{1, 403, 407, 261, 378}
	logits := func(m *llama.Model) []float32 {
		out, err := m.NewSession(llama.SessionOptions{}).Forward(prompt)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}
	q4, _ := quant.ParsePlan("q4")
	for _, c := range []struct {
		name  string
		src   func(testing.TB) Source
		opts  ImportOptions
		exact bool
	}{
		{"gguf", ggufSource, ImportOptions{}, true},
		{"llama2c", llama2cSource, ImportOptions{}, true},
		{"llama2c-q4", llama2cSource, ImportOptions{Precision: &q4}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := c.src(t)
			m, _ := openModel(t, src, c.opts)
			path := filepath.Join(t.TempDir(), "out.gguf")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.WriteGGUF(ctx, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			back, err := llama.Open(path, llama.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			direct, err := llama.Open(src.Path, llama.Options{Tokenizer: src.Tokenizer})
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			got, want := logits(back), logits(direct)
			if c.exact && !slices.Equal(got, want) {
				t.Error("logits of the written GGUF differ from the source's")
			}
			if !c.exact {
				dag, err := m.LlamaModel(ctx, llama.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if g := greedy(t, back); g != greedy(t, dag) {
					t.Errorf("written GGUF generates %q", g)
				}
			}
			if back.Tokenizer.Model() != "llama" || back.SeqLen != m.Manifest.Hyperparameters.Context {
				t.Errorf("tokenizer %s, context %d", back.Tokenizer.Model(), back.SeqLen)
			}
		})
	}
}

// Every block in the store hashes to its CID; the store holds two
// manifests and their components.
func TestBlocksVerify(t *testing.T) {
	ctx := context.Background()
	bs := newStore()
	q4, _ := quant.ParsePlan("q4")
	importInto(t, bs, llama2cSource(t), ImportOptions{})
	importInto(t, bs, ggufSource(t), ImportOptions{Precision: &q4})
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, roots := 0, 0
	for k := range keys {
		b, err := bs.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := k.Prefix().Sum(b.RawData())
		if err != nil || !sum.Equals(k) {
			t.Errorf("block %s does not hash to its CID", k)
		}
		if _, err := DecodeManifest(b.RawData()); err == nil {
			roots++
		}
		n++
	}
	if roots != 2 || n < 2*len(CriticalPath(5)) {
		t.Errorf("%d blocks, %d manifests", n, roots)
	}
}

// manifests counts the blocks in bs that are manifests. (A blockstore
// keys blocks by multihash, so AllKeysChan's CIDs do not tell the codec.)
func manifests(t *testing.T, bs blockstore.Blockstore) int {
	t.Helper()
	keys, err := bs.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys {
		b, err := bs.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest(b.RawData()); err == nil {
			n++
		}
	}
	return n
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile(ggufSource(t).Path)
	if err != nil {
		t.Fatal(err)
	}
	bin := llama2cSource(t)
	ggufWith := func(arch string, skip string) []byte {
		g, err := gguf.Decode(good)
		if err != nil {
			t.Fatal(err)
		}
		w := gguf.NewWriter()
		for _, kv := range g.KV {
			v := any(kv.Value)
			if kv.Key == "general.architecture" {
				v = arch
			}
			if err := w.AddKV(kv.Key, v); err != nil {
				t.Fatal(err)
			}
		}
		for _, ti := range g.Tensors {
			if ti.Name == skip {
				continue
			}
			data, _ := g.TensorData(ti)
			if err := w.AddTensor(ti.Name, ti.Dims, ti.Type, data); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	extra := func() []byte {
		g, _ := gguf.Decode(good)
		w := gguf.NewWriter()
		for _, kv := range g.KV {
			w.AddKV(kv.Key, kv.Value)
		}
		for _, ti := range g.Tensors {
			data, _ := g.TensorData(ti)
			w.AddTensor(ti.Name, ti.Dims, ti.Type, data)
		}
		w.AddTensor("rope_freqs.weight", []uint64{4}, gguf.F32, make([]byte, 16))
		var buf bytes.Buffer
		w.WriteTo(&buf)
		return buf.Bytes()
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		src  Source
		opts ImportOptions
		want string
	}{
		{"truncated GGUF", nil, Source{Path: write("trunc.gguf", good[:len(good)/2])}, ImportOptions{}, "trunc"},
		{"GGUF header only", nil, Source{Path: write("head.gguf", good[:64])}, ImportOptions{}, "gguf"},
		{"unknown architecture", nil, Source{Path: write("arch.gguf", ggufWith("mamba", ""))}, ImportOptions{}, `architecture "mamba"`},
		{"missing tensor", nil, Source{Path: write("missing.gguf", ggufWith("llama", "blk.3.ffn_up.weight"))}, ImportOptions{}, "no tensor blk.3.ffn_up.weight"},
		{"unknown tensor", nil, Source{Path: write("extra.gguf", extra())}, ImportOptions{}, `extra.gguf: tensor "rope_freqs.weight" has no place in a Llama model DAG`},
		{"tokenizer for a GGUF", nil, Source{Path: ggufSource(t).Path, Tokenizer: bin.Tokenizer}, ImportOptions{}, "only for llama2.c"},
		{"llama2.c without tokenizer", nil, Source{Path: bin.Path}, ImportOptions{}, "tokenizer file"},
		{"truncated llama2.c", nil, Source{Path: write("trunc.bin", mustRead(t, bin.Path)[:5000]), Tokenizer: bin.Tokenizer}, ImportOptions{}, "trunc.bin: llama2c: the header describes a model larger than the file"},
		{"llama2.c with a tail", nil, Source{Path: write("tail.bin", append(mustRead(t, bin.Path), 0, 0, 0, 0)), Tokenizer: bin.Tokenizer}, ImportOptions{}, "tail.bin: llama2c: the file is larger than the model its header describes"},
		{"truncated tokenizer", nil, Source{Path: bin.Path, Tokenizer: write("tok.bin", mustRead(t, bin.Tokenizer)[:1000])}, ImportOptions{}, "tok.bin: tokenizer: llama2.c: the file is too small for the model's 512 tokens"},
		{"tokenizer cut in a token", nil, Source{Path: bin.Path, Tokenizer: write("cut.bin", mustRead(t, bin.Tokenizer)[:6000])}, ImportOptions{}, "cut.bin: tokenizer: llama2.c token 487: the file is truncated"},
		{"empty vocabulary", nil, Source{Path: bin.Path, Tokenizer: write("zeros.bin", make([]byte, 4+8*512))}, ImportOptions{}, "zeros.bin: tokenizer: llama2.c: the vocabulary is empty"},
		{"vocabulary too large", nil, Source{Path: bin.Path, Tokenizer: write("more.bin", append(mustRead(t, bin.Tokenizer), 0, 0, 0, 0, 0, 0, 0, 0))}, ImportOptions{}, "more.bin: tokenizer: llama2.c: the file holds more than the model's 512 tokens"},
		{"not a model", nil, Source{Path: write("junk", []byte("hello, world, and more than a header"))}, ImportOptions{}, "junk: not a GGUF, llama2.c or safetensors model"},
		{"shorter than a header", nil, Source{Path: write("tiny", []byte("hi"))}, ImportOptions{}, "tiny: not a GGUF, llama2.c or safetensors model"},
		{"no file", nil, Source{Path: filepath.Join(dir, "absent")}, ImportOptions{}, "no such file"},
		{"chunk too small", nil, bin, ImportOptions{ChunkSize: 1024}, "chunk size"},
		{"chunk too large", nil, bin, ImportOptions{ChunkSize: 4 << 20}, "chunk size"},
		{"bad plan", nil, bin, ImportOptions{Precision: &quant.Plan{Default: quant.Format{Kind: quant.Int, Bits: 5, Group: 32}}}, "plan"},
		{"cancelled", cancelled, bin, ImportOptions{}, "canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			bs := newStore()
			root, m, err := Import(ctx, c.src, c.opts, dagstore.New(bs))
			if err == nil {
				t.Fatalf("imported as %s", root)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if n := strings.Count(err.Error(), c.src.Path); n > 1 {
				t.Errorf("error %q names the model %d times", err, n)
			}
			if root.Defined() || m != nil {
				t.Error("a failed import returned a root")
			}
			if n := manifests(t, bs); n != 0 {
				t.Errorf("a failed import left %d manifest blocks", n)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	bs := newStore()
	root, m := importInto(t, bs, llama2cSource(t), ImportOptions{})
	if _, err := Open(ctx, m.Components[1].CID, bs); err == nil {
		t.Error("opened a component as a model")
	}
	if _, err := Open(ctx, cid.Undef, bs); err == nil {
		t.Error("opened cid.Undef")
	}
	if _, err := Open(ctx, root, newStore()); !ipld.IsNotFound(err) {
		t.Error("opened a root missing from the store")
	}
	// A manifest block whose bytes are not a manifest.
	junk, _ := ManifestPrefix.Sum([]byte{0xa0})
	blk, _ := blocks.NewBlockWithCid([]byte{0xa0}, junk)
	bs.Put(ctx, blk)
	if _, err := Open(ctx, junk, bs); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("Open of an empty map: %v", err)
	}
	mod, err := Open(ctx, root, bs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ReadComponent(ctx, "layer.9"); err == nil {
		t.Error("read a missing component")
	}
	// A component block missing from the store.
	bs.DeleteBlock(ctx, m.Components[3].CID)
	if _, err := mod.ReadComponent(ctx, "layer.1"); err == nil {
		t.Error("read a component whose block is gone")
	}
	if _, err := mod.LlamaModel(ctx, llama.Options{}); err == nil {
		t.Error("built a model with a component missing")
	}
}

// The importer reports progress up to the total.
func TestImportProgress(t *testing.T) {
	var last, total int64
	calls := 0
	_, m := importInto(t, newStore(), llama2cSource(t), ImportOptions{Progress: func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		last, total = done, tot
		calls++
	}})
	if calls == 0 || last != total || total != m.Size() {
		t.Errorf("%d calls, last %d of %d, model %d bytes", calls, last, total, m.Size())
	}
}
