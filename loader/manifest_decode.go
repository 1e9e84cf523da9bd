package loader

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
)

// manifestOf reads the manifest in n, a manifest block decoded as plain
// data: every field the schema names, of its kind, and no other. It reads
// the block directly, which the browser runtime's first load runs far
// faster than a schema binding by reflection.
func manifestOf(n datamodel.Node) (*Manifest, error) {
	r := newFields(n, "manifest")
	m := &Manifest{Version: r.str("version"), Architecture: r.str("architecture"), Precision: r.str("precision")}
	hp := r.sub("hyperparameters")
	m.Hyperparameters = Hyperparameters{
		Dim: hp.int("dim"), HiddenDim: hp.int("hiddenDim"), Layers: hp.int("layers"), Heads: hp.int("heads"),
		KVHeads: hp.int("kvHeads"), HeadDim: hp.int("headDim"), RopeDim: hp.int("ropeDim"), Vocab: hp.int("vocab"),
		Context: hp.int("context"), RopeTheta: hp.float("ropeTheta"), NormEps: hp.float("normEps"), TiedOutput: hp.bool("tiedOutput"),
	}
	for i, cn := range r.list("components") {
		c := newFields(cn, fmt.Sprintf("component %d", i))
		comp := Component{Name: c.str("name"), Priority: c.int("priority"), CID: c.link("cid"), Size: int64(c.int("size"))}
		for j, tn := range c.list("tensors") {
			t := newFields(tn, fmt.Sprintf("component %d tensor %d", i, j))
			tensor := Tensor{Name: t.str("name"), Format: t.str("format"), Offset: int64(t.int("offset")), Length: int64(t.int("length"))}
			for _, d := range t.list("shape") {
				tensor.Shape = append(tensor.Shape, t.intOf(d, "shape"))
			}
			c.join(t.done())
			comp.Tensors = append(comp.Tensors, tensor)
		}
		r.join(c.done())
		m.Components = append(m.Components, comp)
	}
	r.join(hp.done())
	return m, r.done()
}

// fields reads a map's fields by name, keeping the first problem met.
type fields struct {
	n    datamodel.Node
	what string
	read int
	err  error
}

func newFields(n datamodel.Node, what string) *fields {
	f := &fields{n: n, what: what}
	if n.Kind() != datamodel.Kind_Map {
		f.fail("%s is of kind %s, not a map", what, n.Kind())
	}
	return f
}

func (f *fields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// join keeps err as f's problem, unless f had one first.
func (f *fields) join(err error) {
	if f.err == nil {
		f.err = err
	}
}

// done reports f's first problem, or a field it did not read.
func (f *fields) done() error {
	if f.err == nil && f.n.Kind() == datamodel.Kind_Map && f.read != int(f.n.Length()) {
		f.fail("%s has %d fields, not the %d of the schema", f.what, f.n.Length(), f.read)
	}
	return f.err
}

// field returns the field key, or nil (with a problem) when it is missing.
func (f *fields) field(key string) datamodel.Node {
	if f.err != nil {
		return nil
	}
	v, err := f.n.LookupByString(key)
	if err != nil {
		f.fail("%s has no field %s", f.what, key)
		return nil
	}
	f.read++
	return v
}

func (f *fields) str(key string) string {
	v := f.field(key)
	if v == nil {
		return ""
	}
	s, err := v.AsString()
	if err != nil {
		f.fail("%s: %s is of kind %s, not a string", f.what, key, v.Kind())
	}
	return s
}

func (f *fields) int(key string) int {
	v := f.field(key)
	if v == nil {
		return 0
	}
	return f.intOf(v, key)
}

func (f *fields) intOf(v datamodel.Node, key string) int {
	i, err := v.AsInt()
	if err != nil || v.Kind() != datamodel.Kind_Int {
		f.fail("%s: %s is of kind %s, not an int", f.what, key, v.Kind())
	}
	return int(i)
}

func (f *fields) float(key string) float64 {
	v := f.field(key)
	if v == nil {
		return 0
	}
	x, err := v.AsFloat()
	if err != nil || v.Kind() != datamodel.Kind_Float {
		f.fail("%s: %s is of kind %s, not a float", f.what, key, v.Kind())
	}
	return x
}

func (f *fields) bool(key string) bool {
	v := f.field(key)
	if v == nil {
		return false
	}
	b, err := v.AsBool()
	if err != nil {
		f.fail("%s: %s is of kind %s, not a bool", f.what, key, v.Kind())
	}
	return b
}

func (f *fields) link(key string) cid.Cid {
	v := f.field(key)
	if v == nil {
		return cid.Undef
	}
	l, err := v.AsLink()
	if cl, ok := l.(cidlink.Link); err == nil && ok {
		return cl.Cid
	}
	f.fail("%s: %s is of kind %s, not a CID", f.what, key, v.Kind())
	return cid.Undef
}

func (f *fields) sub(key string) *fields {
	v := f.field(key)
	if v == nil {
		return &fields{n: f.n, what: key, err: f.err}
	}
	return newFields(v, key)
}

// list returns the items of list field key.
func (f *fields) list(key string) []datamodel.Node {
	v := f.field(key)
	if v == nil {
		return nil
	}
	if v.Kind() != datamodel.Kind_List {
		f.fail("%s: %s is of kind %s, not a list", f.what, key, v.Kind())
		return nil
	}
	items := make([]datamodel.Node, 0, v.Length())
	for it := v.ListIterator(); !it.Done(); {
		_, item, err := it.Next()
		if err != nil {
			f.fail("%s: %s: %v", f.what, key, err)
			return nil
		}
		items = append(items, item)
	}
	return items
}
