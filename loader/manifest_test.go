package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// testManifest is a valid manifest of a tiny model, with made-up CIDs.
func testManifest() *Manifest {
	h := Hyperparameters{Dim: 32, HiddenDim: 64, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 16, RopeDim: 16,
		Vocab: 40, Context: 16, RopeTheta: 10000, NormEps: float64(float32(1e-5))}
	m := &Manifest{Version: Version, Architecture: "llama", Hyperparameters: h}
	specs := componentSpecs(h)
	for i, name := range CriticalPath(h.Layers) {
		id, _ := FilePrefix.WithCodec(cid.Raw).Sum([]byte(name))
		c := Component{Name: name, Priority: Priority(name), CID: id}
		if name == ComponentTokenizer {
			c.Size = 100
		}
		for _, s := range specs[i] {
			off := alignUp(c.Size)
			n, _ := quantFormat(quant.FormatF32).size(s.Shape)
			c.Tensors = append(c.Tensors, Tensor{Name: s.Name, Shape: s.Shape, Format: "f32", Offset: off, Length: n})
			c.Size = off + n
		}
		m.Components = append(m.Components, c)
	}
	return m
}

func mustEncode(t testing.TB, m *Manifest) []byte {
	t.Helper()
	data, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// generic decodes a manifest block without its schema.
func generic(t testing.TB, data []byte) datamodel.Node {
	t.Helper()
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return nb.Build()
}

// mapWith returns map n with key's value v (added, or replaced; nil: key
// dropped), in n's key order.
func mapWith(t testing.TB, n datamodel.Node, key string, v datamodel.Node) datamodel.Node {
	t.Helper()
	out, err := qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		found := false
		for it := n.MapIterator(); !it.Done(); {
			k, old, _ := it.Next()
			ks, _ := k.AsString()
			if ks == key {
				found, old = true, v
			}
			if old != nil {
				qp.MapEntry(ma, ks, qp.Node(old))
			}
		}
		if !found && v != nil {
			qp.MapEntry(ma, key, qp.Node(v))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listWith returns list n with its item i replaced by v.
func listWith(t testing.TB, n datamodel.Node, i int64, v datamodel.Node) datamodel.Node {
	t.Helper()
	out, err := qp.BuildList(basicnode.Prototype.Any, -1, func(la datamodel.ListAssembler) {
		for it := n.ListIterator(); !it.Done(); {
			j, old, _ := it.Next()
			if j == i {
				old = v
			}
			qp.ListEntry(la, qp.Node(old))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withKeys re-encodes a top-level map with some keys dropped and others
// added, in the given key order (sorted unless sortKeys is false).
func withKeys(t testing.TB, data []byte, drop string, add map[string]datamodel.Node, sortKeys bool) []byte {
	t.Helper()
	n := generic(t, data)
	out, err := qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		if !sortKeys {
			for k, v := range add {
				qp.MapEntry(ma, k, qp.Node(v))
			}
		}
		it := n.MapIterator()
		for !it.Done() {
			k, v, _ := it.Next()
			ks, _ := k.AsString()
			if ks != drop {
				qp.MapEntry(ma, ks, qp.Node(v))
			}
		}
		if sortKeys {
			for k, v := range add {
				qp.MapEntry(ma, k, qp.Node(v))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mode := codec.MapSortMode_RFC7049
	if !sortKeys {
		mode = codec.MapSortMode_None
	}
	var buf bytes.Buffer
	if err := (dagcbor.EncodeOptions{AllowLinks: true, MapSortMode: mode}).Encode(out, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestManifestRoundTrip(t *testing.T) {
	m := testManifest()
	blk, err := m.Block()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(blk.RawData())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Block()
	if !again.Cid().Equals(blk.Cid()) {
		t.Error("decode and encode change the CID")
	}
	if p := blk.Cid().Prefix(); p.Version != 1 || p.Codec != cid.DagCBOR || p.MhType != 0x12 {
		t.Errorf("CID %s is not CIDv1 dag-cbor sha2-256", blk.Cid())
	}
}

func TestDecodeManifestErrors(t *testing.T) {
	layer := func(m *Manifest) *Component { return &m.Components[2] }
	cases := []struct {
		name   string
		mutate func(m *Manifest)
		want   string
	}{
		{"unknown version", func(m *Manifest) { m.Version = "accel-model/2" }, `unknown version "accel-model/2"`},
		{"unknown architecture", func(m *Manifest) { m.Architecture = "mamba" }, `unknown architecture "mamba"`},
		{"bad hyperparameters", func(m *Manifest) { m.Hyperparameters.KVHeads = 3 }, "KV heads"},
		{"zero layers", func(m *Manifest) { m.Hyperparameters.Layers = 0 }, "layers = 0"},
		{"NaN epsilon", func(m *Manifest) { m.Hyperparameters.NormEps = -1 }, "normEps"},
		{"bad precision", func(m *Manifest) { m.Precision = "int5g7" }, "precision"},
		{"duplicate component", func(m *Manifest) { m.Components[3] = m.Components[2] }, `duplicate component "layer.0"`},
		{"wrong order", func(m *Manifest) { m.Components[2], m.Components[3] = m.Components[3], m.Components[2] }, "critical path"},
		{"head before layers", func(m *Manifest) {
			c := m.Components
			m.Components = append([]Component{c[0], c[1], c[4]}, c[2:4]...)
		}, "critical path"},
		{"missing component", func(m *Manifest) { m.Components = m.Components[:4] }, "4 components"},
		{"extra component", func(m *Manifest) {
			m.Components = append(m.Components, m.Components[2])
			m.Components[5].Name = "layer.9"
		}, "components"},
		{"wrong priority", func(m *Manifest) { layer(m).Priority = 0 }, "priority 0"},
		{"CIDv0", func(m *Manifest) {
			layer(m).CID, _ = cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: 0x12, MhLength: -1}.Sum([]byte("x"))
		}, "CIDv1"},
		{"overlapping tensors", func(m *Manifest) { layer(m).Tensors[1].Offset = 0 }, "overlaps"},
		{"unaligned offset", func(m *Manifest) { layer(m).Tensors[8].Offset += 4; layer(m).Size += 4 }, "multiple of 32"},
		{"past the end", func(m *Manifest) { layer(m).Size -= 32 }, "runs past"},
		{"trailing bytes", func(m *Manifest) { layer(m).Size += 32 }, "last tensor ends"},
		{"wrong length", func(m *Manifest) { layer(m).Tensors[0].Length = 4 }, "needs 128"},
		{"wrong shape", func(m *Manifest) { layer(m).Tensors[1].Shape = []int{16, 32} }, "shape [16 32]"},
		{"unknown format", func(m *Manifest) { layer(m).Tensors[1].Format = "q9_9" }, `unknown tensor format "q9_9"`},
		{"non-canonical format", func(m *Manifest) { layer(m).Tensors[1].Format = "F32" }, `unknown tensor format "F32"`},
		{"misplaced tensor", func(m *Manifest) { layer(m).Tensors[1].Name = "blk.1.attn_q.weight" }, `want "blk.0.attn_q.weight"`},
		{"missing output", func(m *Manifest) { m.Components[4].Tensors = m.Components[4].Tensors[:1] }, "1 tensors, want 2"},
		{"tokenizer with tensors", func(m *Manifest) { m.Components[0].Tensors = m.Components[1].Tensors }, "want 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := testManifest()
			c.mutate(m)
			_, err := DecodeManifest(mustEncode(t, m))
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
			if err := m.Validate(); err == nil {
				t.Error("Validate accepts it")
			}
			if _, err := m.Encode(); err == nil {
				t.Error("Encode accepts it")
			}
		})
	}
}

func TestDecodeManifestBadBytes(t *testing.T) {
	good := mustEncode(t, testManifest())
	components, err := generic(t, good).LookupByString("components")
	if err != nil {
		t.Fatal(err)
	}
	// normEps as a CBOR float32 (0xfa) where dag-cbor wants float64 (0xfb).
	i := bytes.Index(good, []byte("normEps")) + len("normEps")
	if good[i] != 0xfb || math.Float64frombits(binary.BigEndian.Uint64(good[i+1:])) != float64(float32(1e-5)) {
		t.Fatalf("normEps is not followed by a float64")
	}
	float32Eps := append(append(append([]byte{}, good[:i]...), 0xfa, 0, 0, 0, 0), good[i+9:]...)
	binary.BigEndian.PutUint32(float32Eps[i+1:], math.Float32bits(1e-5))
	cases := map[string][]byte{
		"empty":               {},
		"truncated":           good[:len(good)/2],
		"trailing bytes":      append(append([]byte{}, good...), 0),
		"not a map":           {0x82, 0x01, 0x02},
		"missing precision":   withKeys(t, good, "precision", nil, true),
		"missing components":  withKeys(t, good, "components", nil, true),
		"unknown field":       withKeys(t, good, "", map[string]datamodel.Node{"extra": basicnode.NewInt(1)}, true),
		"unsorted keys":       withKeys(t, good, "components", map[string]datamodel.Node{"components": components}, false),
		"float32 value":       float32Eps,
		"version is a number": withKeys(t, good, "version", map[string]datamodel.Node{"version": basicnode.NewInt(1)}, true),
		"no version":          withKeys(t, good, "version", nil, true),
		"too large":           make([]byte, MaxManifestSize+1),
	}
	// Fields of the right names but the wrong kinds, missing or extra,
	// down in the components.
	root := generic(t, good)
	at := func(n datamodel.Node, key string) datamodel.Node {
		v, err := n.LookupByString(key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	item := func(n datamodel.Node, i int64) datamodel.Node {
		v, err := n.LookupByIndex(i)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	hp := at(root, "hyperparameters")
	embed := item(components, 1)
	tensor := item(at(embed, "tensors"), 0)
	withComponent := func(c datamodel.Node) []byte {
		return withKeys(t, good, "components", map[string]datamodel.Node{"components": listWith(t, components, 1, c)}, true)
	}
	for name, data := range map[string][]byte{
		"a hyperparameter as a string":  withKeys(t, good, "hyperparameters", map[string]datamodel.Node{"hyperparameters": mapWith(t, hp, "dim", basicnode.NewString("2048"))}, true),
		"an int as a float":             withKeys(t, good, "hyperparameters", map[string]datamodel.Node{"hyperparameters": mapWith(t, hp, "layers", basicnode.NewFloat(2))}, true),
		"an extra hyperparameter":       withKeys(t, good, "hyperparameters", map[string]datamodel.Node{"hyperparameters": mapWith(t, hp, "extra", basicnode.NewInt(1))}, true),
		"a missing hyperparameter":      withKeys(t, good, "hyperparameters", map[string]datamodel.Node{"hyperparameters": mapWith(t, hp, "vocab", nil)}, true),
		"a component's CID as a string": withComponent(mapWith(t, embed, "cid", basicnode.NewString("bafy"))),
		"a component as a list":         withComponent(basicnode.NewInt(3)),
		"a tensor's shape of strings":   withComponent(mapWith(t, embed, "tensors", listWith(t, at(embed, "tensors"), 0, mapWith(t, tensor, "shape", basicnode.NewString("64x64"))))),
	} {
		cases[name] = data
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeManifest(data); !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error %v", err)
			} else {
				t.Log(err)
			}
		})
	}
}

func FuzzDecodeManifest(f *testing.F) {
	good := mustEncode(f, testManifest())
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(withKeys(f, good, "precision", nil, true))
	f.Add(withKeys(f, good, "", map[string]datamodel.Node{"extra": basicnode.NewInt(1)}, true))
	m := testManifest()
	m.Components[2].Tensors[1].Offset = 0
	f.Add(mustEncode(f, m))
	m = testManifest()
	m.Version = "accel-model/2"
	f.Add(mustEncode(f, m))
	m = testManifest()
	m.Components[2], m.Components[3] = m.Components[3], m.Components[2]
	f.Add(mustEncode(f, m))
	f.Add([]byte{0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x6d})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("error %v does not wrap ErrInvalidManifest", err)
			}
			return
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted manifest does not encode back: %v", err)
		}
	})
}
