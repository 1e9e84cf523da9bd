// Package gguf reads and writes GGUF files, the model container of llama.cpp
// and ggml (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
//
// Decode parses a file held in memory without copying tensor data; Open maps a
// file from disk. Every count and offset in a header is checked against the
// bytes actually present before anything is allocated, so a malformed or
// hostile file gives an error, never a panic or an allocation much larger than
// the file. Only little-endian files, versions 2 and 3, are supported.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment used when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// maxArrayDepth bounds nesting of arrays of arrays.
const maxArrayDepth = 4

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims in ggml order: Dims[0] (ne[0]) is the fastest-varying dimension,
	// the number of columns of a row-major matrix.
	Dims []uint64
	Type Type
	// Offset of the data, relative to the start of the data section.
	Offset uint64
}

// NumElements returns the product of the dimensions (1 for no dimensions).
// For tensors of a decoded File it does not overflow.
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Bytes returns the size of the tensor's data.
func (t TensorInfo) Bytes() (uint64, error) {
	size, err := t.bytes()
	if err != nil {
		return 0, fmt.Errorf("gguf: tensor %s: %w", t.Name, err)
	}
	return size, nil
}

// bytes is Bytes with errors that do not name the tensor.
func (t TensorInfo) bytes() (uint64, error) {
	ne0 := uint64(1)
	if len(t.Dims) > 0 {
		ne0 = t.Dims[0]
	}
	size, err := t.Type.rowBytes(ne0)
	if err != nil {
		return 0, err
	}
	for _, d := range t.Dims[min(1, len(t.Dims)):] {
		hi, lo := bits.Mul64(size, d)
		if hi != 0 || lo > maxSize {
			return 0, fmt.Errorf("the size of its data as %s overflows", t.Type)
		}
		size = lo
	}
	return size, nil
}

// File is a parsed GGUF file.
type File struct {
	Version uint32
	KV      []KV         // metadata in file order
	Tensors []TensorInfo // tensor infos in file order
	// Alignment of the data section and of every tensor's offset.
	Alignment uint64
	// DataOffset is where the data section starts, from the start of the file.
	DataOffset uint64

	data    []byte
	kvIndex map[string]int
	tIndex  map[string]int
	closed  bool
	unmap   func() error
}

// errClosed is returned by TensorData after Close.
var errClosed = errors.New("gguf: file is closed")

// Decode parses a whole GGUF file held in data. Tensor data is not copied:
// TensorData returns subslices of data, which must stay unmodified while in use.
func Decode(data []byte) (*File, error) {
	d := &decoder{b: data}
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	f.data = data
	return f, nil
}

// Mapped is the file's memory mapping (see mmap.EvictExcept), or nil for a
// file decoded from memory or closed.
func (f *File) Mapped() []byte {
	if f.unmap == nil {
		return nil
	}
	return f.data
}

// Close releases the file's memory mapping, if any. Tensor data slices must
// not be used after Close. Close is idempotent.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		u := f.unmap
		f.unmap = nil
		return u()
	}
	return nil
}

// Get returns the value of key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Get(key)
	s, ok := v.V.(string)
	return s, ok
}

// Uint returns an integer value of any integer type that is non-negative.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Uint()
}

// Int returns an integer value of any integer type that fits an int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Int()
}

// Float returns a float32 or float64 value.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Float()
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Get(key)
	b, ok := v.V.(bool)
	return b, ok
}

// Strings returns an array of strings (shared with the File, not copied).
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Get(key)
	s, ok := v.V.([]string)
	return s, ok
}

// Float32s returns an array of float32 (or float64, converted).
func (f *File) Float32s(key string) ([]float32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Float32s()
}

// Int32s returns an array of int32, or of another integer type whose elements
// all fit an int32, converted.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Int32s()
}

// Architecture returns general.architecture ("llama", …), or "" if absent.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorData returns the bytes of t's data as a subslice of the file (no copy).
func (f *File) TensorData(t TensorInfo) ([]byte, error) {
	if f.closed {
		return nil, errClosed
	}
	data, err := f.tensorData(t, f.data)
	if err != nil {
		return nil, f.tensorError(t, err)
	}
	return data, nil
}

// tensorData returns t's data within data, the whole file.
func (f *File) tensorData(t TensorInfo, data []byte) ([]byte, error) {
	size, err := t.bytes()
	if err != nil {
		return nil, err
	}
	start, ok1 := addU64(f.DataOffset, t.Offset)
	end, ok2 := addU64(start, size)
	if !ok1 || !ok2 || end > uint64(len(data)) {
		return nil, errors.New("its data runs past the end of the file")
	}
	return data[start:end:end], nil
}

// tensorError is err about t, in the form "gguf: tensor 3 (name): …",
// with t's index in the file when it is one of f's tensors.
func (f *File) tensorError(t TensorInfo, err error) error {
	if i, ok := f.tIndex[t.Name]; ok {
		return tensorError(i, t.Name, err)
	}
	return fmt.Errorf("gguf: tensor %s: %w", t.Name, err)
}

func tensorError(i int, name string, err error) error {
	return fmt.Errorf("gguf: tensor %d (%s): %w", i, name, err)
}

func metadataError(i int, key string, err error) error {
	return fmt.Errorf("gguf: metadata %d (%s): %w", i, key, err)
}

// Errors of fields that run past the end of the file.
var (
	errTruncated     = errors.New("the file ends inside it (truncated?)")
	errStringPastEnd = errors.New("a string runs past the end of the file")
)

func addU64(a, b uint64) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c == 0
}

// decoder reads little-endian GGUF fields from b, bounds-checked. Its
// primitives return errors without context; callers wrap them (only on
// failure, so decoding a large vocabulary builds no error text).
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) u8() (uint8, error) {
	if d.left() < 1 {
		return 0, errTruncated
	}
	v := d.b[d.off]
	d.off++
	return v, nil
}

func (d *decoder) u16() (uint16, error) {
	if d.left() < 2 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if d.left() < 4 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *decoder) u64() (uint64, error) {
	if d.left() < 8 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

func (d *decoder) str() (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", errStringPastEnd
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s, nil
}

// count reads a u64 count of items of at least minSize (> 0) bytes each and
// checks that that many could fit in what is left, before anything is allocated.
func (d *decoder) count(minSize int) (int, error) {
	n, err := d.u64()
	if err != nil {
		return 0, err
	}
	if n > uint64(d.left()/minSize) {
		return 0, errors.New("more than the rest of the file can hold")
	}
	return int(n), nil
}

func (d *decoder) file() (*File, error) {
	if len(d.b) < 4 || string(d.b[:4]) != Magic {
		return nil, errors.New("gguf: not a GGUF file (no GGUF magic)")
	}
	d.off = 4
	version, err := d.u32()
	if err != nil {
		return nil, fmt.Errorf("gguf: version: %w", err)
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, errors.New("gguf: GGUF version 1 is not supported (convert the file with a newer llama.cpp)")
	case version&0xffff == 0 && bits.ReverseBytes32(version) <= 3:
		return nil, errors.New("gguf: big-endian GGUF is not supported")
	default:
		return nil, errors.New("gguf: unsupported GGUF version (this reader takes versions 2 and 3)")
	}
	f := &File{Version: version, Alignment: DefaultAlignment}

	// Smallest encodings: tensor info = name len 8 + n_dims 4 + type 4 + offset 8;
	// KV = key len 8 + type 4 + 1-byte value.
	nTensors, err := d.count(24)
	if err != nil {
		return nil, fmt.Errorf("gguf: tensor count: %w", err)
	}
	nKV, err := d.count(13)
	if err != nil {
		return nil, fmt.Errorf("gguf: metadata count: %w", err)
	}

	f.KV = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := range nKV {
		key, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("gguf: metadata %d: key: %w", i, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, metadataError(i, key, errors.New("duplicate key"))
		}
		vt, err := d.u32()
		if err != nil {
			return nil, metadataError(i, key, fmt.Errorf("value type: %w", err))
		}
		v, err := d.value(ValueType(vt), 0)
		if err != nil {
			return nil, metadataError(i, key, err)
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}

	if v, ok := f.Get(KeyAlignment); ok {
		a, isU32 := v.V.(uint32)
		if !isU32 {
			return nil, fmt.Errorf("gguf: %s has type %s, want u32", KeyAlignment, v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf: %s is not a power of two", KeyAlignment)
		}
		f.Alignment = uint64(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tIndex = make(map[string]int, nTensors)
	for i := range nTensors {
		t, err := d.tensorInfo(i, f.Alignment)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, tensorError(i, t.Name, errors.New("duplicate name"))
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment.
	f.DataOffset = alignUp(uint64(d.off), f.Alignment)
	for i, t := range f.Tensors {
		if _, err := f.tensorData(t, d.b); err != nil {
			return nil, tensorError(i, t.Name, err)
		}
	}
	return f, nil
}

func (d *decoder) tensorInfo(i int, align uint64) (TensorInfo, error) {
	name, err := d.str()
	if err != nil {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %d: name: %w", i, err)
	}
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, tensorError(i, name, fmt.Errorf(format, args...))
	}
	nd, err := d.u32()
	if err != nil {
		return fail("dimension count: %v", err)
	}
	if nd > MaxDims {
		return fail("more than %d dimensions", MaxDims)
	}
	t := TensorInfo{Name: name, Dims: make([]uint64, nd)}
	n := uint64(1)
	for j := range t.Dims {
		v, err := d.u64()
		if err != nil {
			return fail("dimension %d: %v", j, err)
		}
		if v > maxSize {
			return fail("dimension %d is out of range", j)
		}
		t.Dims[j] = v
		hi, lo := bits.Mul64(n, v)
		if hi != 0 || lo > maxSize {
			return fail("its element count overflows")
		}
		n = lo
	}
	typ, err := d.u32()
	if err != nil {
		return fail("type: %v", err)
	}
	t.Type = Type(typ)
	if !t.Type.Known() {
		return fail("unknown tensor type")
	}
	if _, err := t.bytes(); err != nil {
		return fail("%w", err)
	}
	if t.Offset, err = d.u64(); err != nil {
		return fail("offset: %v", err)
	}
	if t.Offset%align != 0 {
		return fail("offset is not a multiple of the alignment")
	}
	return t, nil
}

// value reads a value of type vt. Errors are relative to the key.
func (d *decoder) value(vt ValueType, depth int) (Value, error) {
	v := Value{Type: vt}
	var err error
	switch vt {
	case TypeUint8:
		v.V, err = d.u8()
	case TypeInt8:
		var x uint8
		x, err = d.u8()
		v.V = int8(x)
	case TypeUint16:
		v.V, err = d.u16()
	case TypeInt16:
		var x uint16
		x, err = d.u16()
		v.V = int16(x)
	case TypeUint32:
		v.V, err = d.u32()
	case TypeInt32:
		var x uint32
		x, err = d.u32()
		v.V = int32(x)
	case TypeFloat32:
		var x uint32
		x, err = d.u32()
		v.V = math.Float32frombits(x)
	case TypeBool:
		var x uint8
		x, err = d.u8()
		v.V = x != 0
	case TypeString:
		v.V, err = d.str()
	case TypeUint64:
		v.V, err = d.u64()
	case TypeInt64:
		var x uint64
		x, err = d.u64()
		v.V = int64(x)
	case TypeFloat64:
		var x uint64
		x, err = d.u64()
		v.V = math.Float64frombits(x)
	case TypeArray:
		return d.array(depth)
	default:
		return Value{}, errors.New("unknown value type")
	}
	if err != nil {
		return Value{}, fmt.Errorf("%s value: %w", vt, err)
	}
	return v, nil
}

func (d *decoder) array(depth int) (Value, error) {
	if depth >= maxArrayDepth {
		return Value{}, fmt.Errorf("arrays nested more than %d deep", maxArrayDepth)
	}
	et, err := d.u32()
	if err != nil {
		return Value{}, fmt.Errorf("array element type: %w", err)
	}
	elem := ValueType(et)
	min := elem.minSize()
	if min == 0 {
		return Value{}, errors.New("unknown array element type")
	}
	n, err := d.count(min)
	if err != nil {
		return Value{}, fmt.Errorf("array length: %w", err)
	}
	v := Value{Type: TypeArray, Elem: elem}
	// Fixed-size elements: count checked above, so the bytes are all there.
	raw := d.b[d.off:]
	le := binary.LittleEndian
	switch elem {
	case TypeUint8:
		v.V = append([]uint8{}, raw[:n]...)
	case TypeInt8:
		a := make([]int8, n)
		for i := range a {
			a[i] = int8(raw[i])
		}
		v.V = a
	case TypeBool:
		a := make([]bool, n)
		for i := range a {
			a[i] = raw[i] != 0
		}
		v.V = a
	case TypeUint16:
		a := make([]uint16, n)
		for i := range a {
			a[i] = le.Uint16(raw[2*i:])
		}
		v.V = a
	case TypeInt16:
		a := make([]int16, n)
		for i := range a {
			a[i] = int16(le.Uint16(raw[2*i:]))
		}
		v.V = a
	case TypeUint32:
		a := make([]uint32, n)
		for i := range a {
			a[i] = le.Uint32(raw[4*i:])
		}
		v.V = a
	case TypeInt32:
		a := make([]int32, n)
		for i := range a {
			a[i] = int32(le.Uint32(raw[4*i:]))
		}
		v.V = a
	case TypeFloat32:
		a := make([]float32, n)
		for i := range a {
			a[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		v.V = a
	case TypeUint64:
		a := make([]uint64, n)
		for i := range a {
			a[i] = le.Uint64(raw[8*i:])
		}
		v.V = a
	case TypeInt64:
		a := make([]int64, n)
		for i := range a {
			a[i] = int64(le.Uint64(raw[8*i:]))
		}
		v.V = a
	case TypeFloat64:
		a := make([]float64, n)
		for i := range a {
			a[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		v.V = a
	case TypeString:
		// Validate all lengths first, then copy the whole region once and
		// slice the strings out of it: one allocation for a whole vocabulary.
		start := d.off
		for i := range n {
			l, err := d.u64()
			if err == nil && l > uint64(d.left()) {
				err = errStringPastEnd
			}
			if err != nil {
				return Value{}, fmt.Errorf("string element %d: %w", i, err)
			}
			d.off += int(l)
		}
		blob := string(d.b[start:d.off])
		a := make([]string, n)
		p := 0
		for i := range a {
			l := int(le.Uint64(d.b[start+p:]))
			a[i] = blob[p+8 : p+8+l]
			p += 8 + l
		}
		v.V = a
		return v, nil
	case TypeArray:
		a := make([]Value, n)
		for i := range a {
			if a[i], err = d.array(depth + 1); err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		v.V = a
		return v, nil
	}
	d.off += n * elem.size()
	return v, nil
}
