// Package loader stores models as content-addressed DAGs and reads them back.
//
// A model DAG has one root, a Manifest block (dag-cbor, CIDv1, sha2-256),
// that lists the model's components in critical-path order — tokenizer,
// embed, layer.0 … layer.N-1, head — each a UnixFS file (CIDv1, raw leaves)
// holding its tensors at recorded offsets. Any IPFS node, gateway or CAR
// tool can store and serve the components, one tensor can be read by range,
// and identical components dedupe across models.
//
// Import builds the DAG from a GGUF file or a llama2.c checkpoint; Open
// reads it back, down to a runnable llama.Model or a GGUF file. Plan
// orders a model's components for a load, and a Walker fetches a DAG
// level by level from wherever its caller gets blocks.
package loader

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/node/bindnode"
	"github.com/ipld/go-ipld-prime/schema"
	mh "github.com/multiformats/go-multihash"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Version is the manifest format this package writes and reads.
const Version = "accel-model/1"

// Limits of a manifest. A manifest is one block, so it stays under the
// 2 MiB block size that bitswap and Kubo accept.
const (
	MaxManifestSize = 2 << 20
	MaxLayers       = 1024
	maxWidth        = 1 << 24 // any hyperparameter but layers
	maxComponent    = 1 << 50 // bytes in one component
)

// TensorAlignment is the alignment of every tensor's offset in a component.
const TensorAlignment = 32

// Component names: the critical path is ComponentTokenizer, ComponentEmbed,
// LayerComponent(0) … LayerComponent(N-1), ComponentHead.
const (
	ComponentTokenizer = "tokenizer"
	ComponentEmbed     = "embed"
	ComponentHead      = "head"
)

// LayerComponent is the name of transformer block i's component.
func LayerComponent(i int) string { return "layer." + strconv.Itoa(i) }

// CriticalPath lists the component names of a model with the given number
// of layers, in the order a manifest lists them.
func CriticalPath(layers int) []string {
	names := []string{ComponentTokenizer, ComponentEmbed}
	for i := range layers {
		names = append(names, LayerComponent(i))
	}
	return append(names, ComponentHead)
}

// Priority is the fetch priority of a component (lower is fetched first),
// or -1 for a name that is not a component. The tokenizer, embed and head
// come first — with those three local a client can answer, running the
// layers it lacks on peers — then the layers in order: tokenizer 0,
// embed 1, head 2, layer.i 3+i.
func Priority(name string) int {
	switch name {
	case ComponentTokenizer:
		return 0
	case ComponentEmbed:
		return 1
	case ComponentHead:
		return 2
	}
	if i, ok := LayerOf(name); ok {
		return 3 + i
	}
	return -1
}

// LayerOf returns the layer of component name: N for "layer.N" (N in
// canonical decimal form, below MaxLayers), false for any other name.
func LayerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "layer.")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= MaxLayers || strconv.Itoa(i) != rest {
		return 0, false
	}
	return i, true
}

// Manifest is the root of a model DAG. One returned by DecodeManifest or
// Import has passed Validate: its components are exactly the critical path,
// each tensor the hyperparameters call for sits in its component at an
// aligned offset with the length its shape and format give, and encoding it
// again gives the same bytes (so the same manifest always has the same CID).
type Manifest struct {
	Version         string // Version
	Architecture    string // "llama"
	Hyperparameters Hyperparameters
	// Precision is the quant.Plan the weights were converted with, in the
	// compact form quant.ParsePlan reads, or "" when every tensor keeps its
	// source format.
	Precision  string
	Components []Component // critical-path order
}

// Hyperparameters are the shape of a Llama model (llama.Config's fields).
type Hyperparameters struct {
	Dim        int     // embedding width
	HiddenDim  int     // feed-forward width
	Layers     int     // transformer blocks
	Heads      int     // query heads
	KVHeads    int     // key/value heads
	HeadDim    int     // per-head width
	RopeDim    int     // leading dimensions of each head that RoPE rotates
	Vocab      int     // vocabulary size (rows of the token embedding)
	Context    int     // context length
	RopeTheta  float64 // RoPE base frequency (a float32 value)
	NormEps    float64 // RMSNorm epsilon (a float32 value)
	TiedOutput bool    // the classifier reuses the token embedding (no output.weight)
}

// Component is one UnixFS file of the DAG.
type Component struct {
	Name     string  // "tokenizer", "embed", "layer.N" or "head"
	Priority int     // Priority(Name)
	CID      cid.Cid // root of the UnixFS file
	Size     int64   // file size: the end of its last tensor
	// Tensors in file order. The tokenizer component has none: it is a GGUF
	// file holding the model's metadata (general.*, llama.*, tokenizer.*).
	Tensors []Tensor
}

// Layer returns the transformer block c holds, false when c is not a layer.
func (c Component) Layer() (int, bool) { return LayerOf(c.Name) }

// Tensor is one tensor of a component.
type Tensor struct {
	Name  string // GGUF name, e.g. "blk.0.attn_q.weight"
	Shape []int  // outermost first: [rows, cols] for a matrix
	// Format of the bytes: a quant.Format name ("f32", "q8_0", "int4g64a")
	// or, for a GGML type kept as stored, its ggml name ("q6_K").
	Format string
	Offset int64 // from the start of the component, a multiple of TensorAlignment
	Length int64 // bytes; the rows back to back in the format's row layout
}

// schemaDSL is the IPLD schema of the manifest block. Fields carry the Go
// names (bindnode binds by name) and are renamed to the keys of the block.
const schemaDSL = `
type Manifest struct {
	Version String (rename "version")
	Architecture String (rename "architecture")
	Hyperparameters Hyperparameters (rename "hyperparameters")
	Precision String (rename "precision")
	Components [Component] (rename "components")
}
type Hyperparameters struct {
	Dim Int (rename "dim")
	HiddenDim Int (rename "hiddenDim")
	Layers Int (rename "layers")
	Heads Int (rename "heads")
	KVHeads Int (rename "kvHeads")
	HeadDim Int (rename "headDim")
	RopeDim Int (rename "ropeDim")
	Vocab Int (rename "vocab")
	Context Int (rename "context")
	RopeTheta Float (rename "ropeTheta")
	NormEps Float (rename "normEps")
	TiedOutput Bool (rename "tiedOutput")
}
type Component struct {
	Name String (rename "name")
	Priority Int (rename "priority")
	CID Link (rename "cid")
	Size Int (rename "size")
	Tensors [Tensor] (rename "tensors")
}
type Tensor struct {
	Name String (rename "name")
	Shape [Int] (rename "shape")
	Format String (rename "format")
	Offset Int (rename "offset")
	Length Int (rename "length")
}
`

// manifestType is the schema's Manifest type, compiled the first time a
// manifest is encoded (the browser's runtime only decodes them: see
// manifestOf).
var manifestType = sync.OnceValue(func() schema.Type {
	ts, err := ipld.LoadSchemaBytes([]byte(schemaDSL))
	if err != nil {
		panic(err)
	}
	return ts.TypeByName("Manifest")
})

// ManifestPrefix makes the CID of a manifest block: CIDv1, dag-cbor,
// sha2-256.
var ManifestPrefix = cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}

// ErrInvalidManifest is wrapped by every error that reports a manifest that
// breaks the format.
var ErrInvalidManifest = errors.New("invalid model manifest")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidManifest, fmt.Sprintf(format, args...))
}

// Encode validates m and returns its dag-cbor bytes.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.encode()
}

func (m *Manifest) encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := dagcbor.Encode(bindnode.Wrap(m, manifestType()).Representation(), &buf); err != nil {
		return nil, fmt.Errorf("loader: encoding manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// Block validates and encodes m as a block whose CID is the model's root.
func (m *Manifest) Block() (blocks.Block, error) {
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	c, err := ManifestPrefix.Sum(data)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// DecodeManifest parses and validates a manifest block. Anything but a
// valid accel-model/1 manifest in canonical dag-cbor is an error wrapping
// ErrInvalidManifest (an unknown version says so first).
func DecodeManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, invalid("%d bytes, more than the %d a manifest may have", len(data), MaxManifestSize)
	}
	opts := dagcbor.DecodeOptions{AllowLinks: true, AllocationBudget: 8 * MaxManifestSize}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := opts.Decode(nb, bytes.NewReader(data)); err != nil {
		return nil, invalid("not dag-cbor: %v", err)
	}
	generic := nb.Build()
	if generic.Kind() != datamodel.Kind_Map {
		return nil, invalid("the root is a %s, not a map", generic.Kind())
	}
	v, err := generic.LookupByString("version")
	if err != nil {
		return nil, invalid("no version field")
	}
	if s, err := v.AsString(); err != nil || s != Version {
		return nil, invalid("unknown version %s (this build reads %q)", describe(v), Version)
	}
	m, err := manifestOf(generic)
	if err != nil {
		return nil, invalid("does not match the schema: %v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var again bytes.Buffer
	if err := dagcbor.Encode(generic, &again); err != nil || !bytes.Equal(again.Bytes(), data) {
		return nil, invalid("not in canonical dag-cbor form")
	}
	return m, nil
}

// describe quotes a version value for an error message.
func describe(n datamodel.Node) string {
	if s, err := n.AsString(); err == nil {
		if len(s) > 64 {
			s = s[:64] + "…"
		}
		return strconv.Quote(s)
	}
	return "of kind " + n.Kind().String()
}

// Validate checks everything DecodeManifest promises (see Manifest).
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return invalid("unknown version %q (this build reads %q)", m.Version, Version)
	}
	if m.Architecture != "llama" {
		return invalid("unknown architecture %q (this build knows \"llama\")", m.Architecture)
	}
	h := m.Hyperparameters
	if err := h.Validate(); err != nil {
		return invalid("%v", err)
	}
	if m.Precision != "" {
		p, err := quant.ParsePlan(m.Precision)
		if err != nil {
			return invalid("precision %q: %v", m.Precision, err)
		}
		if p.String() != m.Precision {
			return invalid("precision %q is not in compact form (want %q)", m.Precision, p.String())
		}
	}
	path := CriticalPath(h.Layers)
	seen := map[string]bool{}
	for i, c := range m.Components {
		if seen[c.Name] {
			return invalid("duplicate component %q", c.Name)
		}
		seen[c.Name] = true
		if i >= len(path) {
			return invalid("%d components, a %d-layer model has %d", len(m.Components), h.Layers, len(path))
		}
		if c.Name != path[i] {
			return invalid("component %d is %q, the critical path needs %q there (order: tokenizer, embed, layer.0 … layer.%d, head)", i, c.Name, path[i], h.Layers-1)
		}
	}
	if len(m.Components) != len(path) {
		return invalid("%d components, a %d-layer model has %d", len(m.Components), h.Layers, len(path))
	}
	specs := componentSpecs(h)
	for i := range m.Components {
		if err := m.Components[i].validate(specs[i]); err != nil {
			return invalid("component %s: %v", m.Components[i].Name, err)
		}
	}
	return nil
}

// Validate checks that h describes a model the engine can run.
func (h Hyperparameters) Validate() error {
	ints := []struct {
		name string
		v    int
		max  int
	}{{"dim", h.Dim, maxWidth}, {"hiddenDim", h.HiddenDim, maxWidth}, {"layers", h.Layers, MaxLayers},
		{"heads", h.Heads, maxWidth}, {"kvHeads", h.KVHeads, maxWidth}, {"headDim", h.HeadDim, maxWidth},
		{"ropeDim", h.RopeDim, maxWidth}, {"vocab", h.Vocab, maxWidth}, {"context", h.Context, maxWidth}}
	for _, f := range ints {
		if f.v <= 0 || f.v > f.max {
			return fmt.Errorf("hyperparameter %s = %d is out of range (1…%d)", f.name, f.v, f.max)
		}
	}
	switch {
	case h.Heads%h.KVHeads != 0:
		return fmt.Errorf("%d heads do not share %d KV heads evenly", h.Heads, h.KVHeads)
	case h.HeadDim%2 != 0 || h.RopeDim%2 != 0 || h.RopeDim > h.HeadDim:
		return fmt.Errorf("head size %d / rope dims %d must be even, rope dims at most the head size", h.HeadDim, h.RopeDim)
	case h.Heads*h.HeadDim > maxWidth:
		return fmt.Errorf("%d heads of %d values are too wide", h.Heads, h.HeadDim)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ropeTheta", h.RopeTheta}, {"normEps", h.NormEps}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) || float64(float32(f.v)) != f.v {
			return fmt.Errorf("hyperparameter %s = %g must be a positive, finite float32 value", f.name, f.v)
		}
	}
	return nil
}

// componentSpecs lists, for each component of the critical path, the
// tensors it holds in file order, with the shapes h gives them: none for
// the tokenizer, the model's embedding, each block, then its head.
func componentSpecs(h Hyperparameters) [][]llama.TensorSpec {
	c := h.config()
	specs := [][]llama.TensorSpec{nil, llama.EmbedTensors(c)}
	for i := range h.Layers {
		specs = append(specs, llama.BlockTensors(c, i))
	}
	return append(specs, llama.HeadTensors(c))
}

// validate checks c against the tensors its place on the critical path
// calls for.
func (c *Component) validate(spec []llama.TensorSpec) error {
	if want := Priority(c.Name); c.Priority != want {
		return fmt.Errorf("priority %d, want %d", c.Priority, want)
	}
	if !c.CID.Defined() || c.CID.Version() != 1 || (c.CID.Type() != cid.DagProtobuf && c.CID.Type() != cid.Raw) {
		return fmt.Errorf("CID %v is not a CIDv1 UnixFS file (dag-pb or raw)", c.CID)
	}
	if c.Size <= 0 || c.Size > maxComponent {
		return fmt.Errorf("size %d is out of range (1…%d)", c.Size, int64(maxComponent))
	}
	if len(c.Tensors) != len(spec) {
		return fmt.Errorf("%d tensors, want %d", len(c.Tensors), len(spec))
	}
	var end int64
	for i, t := range c.Tensors {
		s := spec[i]
		if t.Name != s.Name {
			return fmt.Errorf("tensor %d is %q, want %q", i, t.Name, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return fmt.Errorf("tensor %s has shape %v, the hyperparameters give %v", t.Name, t.Shape, s.Shape)
		}
		f, err := parseFormat(t.Format)
		if err != nil {
			return fmt.Errorf("tensor %s: %v", t.Name, err)
		}
		n, err := f.size(t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %s: %v", t.Name, err)
		}
		switch {
		case t.Length != n:
			return fmt.Errorf("tensor %s is %d bytes, its shape %v in %s needs %d", t.Name, t.Length, t.Shape, t.Format, n)
		case t.Offset < end:
			return fmt.Errorf("tensor %s at offset %d overlaps the tensor before it (which ends at %d)", t.Name, t.Offset, end)
		case t.Offset%TensorAlignment != 0:
			return fmt.Errorf("tensor %s offset %d is not a multiple of %d", t.Name, t.Offset, TensorAlignment)
		case t.Offset > c.Size || t.Length > c.Size-t.Offset:
			return fmt.Errorf("tensor %s [%d, +%d) runs past the component's %d bytes", t.Name, t.Offset, t.Length, c.Size)
		}
		end = t.Offset + t.Length
	}
	if len(c.Tensors) > 0 && end != c.Size {
		return fmt.Errorf("size %d, but the last tensor ends at %d", c.Size, end)
	}
	return nil
}

// Component returns the named component.
func (m *Manifest) Component(name string) (*Component, bool) {
	for i := range m.Components {
		if m.Components[i].Name == name {
			return &m.Components[i], true
		}
	}
	return nil, false
}

// Tensor returns the named tensor and the component that holds it.
func (m *Manifest) Tensor(name string) (Tensor, *Component, bool) {
	for i := range m.Components {
		for _, t := range m.Components[i].Tensors {
			if t.Name == name {
				return t, &m.Components[i], true
			}
		}
	}
	return Tensor{}, nil, false
}

// Size is the total size of the components.
func (m *Manifest) Size() int64 {
	var n int64
	for _, c := range m.Components {
		n += c.Size
	}
	return n
}
