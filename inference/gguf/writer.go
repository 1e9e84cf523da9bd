package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Writer builds a GGUF v3 file. Metadata and tensors are written in the order
// they were added, so the same inputs always give the same bytes.
type Writer struct {
	kvs     []KV
	keys    map[string]bool
	tensors []wtensor
	names   map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// AddKV adds a metadata pair. v may be a string, bool, uint8 … uint64,
// int8 … int64, float32, float64, a slice of any of these, or a Value (for
// example one taken from a decoded File). Plain int and uint are refused:
// GGUF readers check exact types, so say which width you mean.
// general.alignment, if given, must be a power of two and is stored as u32.
func (w *Writer) AddKV(key string, v any) error {
	if w.keys[key] {
		return fmt.Errorf("gguf: duplicate metadata key %q", key)
	}
	val, err := toValue(v)
	if err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := val.Uint()
		if !ok || val.Type == TypeArray || a == 0 || a > math.MaxUint32 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: %s must be a power of two that fits a u32, got %v", KeyAlignment, v)
		}
		val = Value{Type: TypeUint32, V: uint32(a)}
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: val})
	return nil
}

// AddTensor adds a tensor. dims are in ggml order (dims[0] = row length);
// data must be exactly the tensor's size and must not change until WriteTo.
func (w *Writer) AddTensor(name string, dims []uint64, typ Type, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor name %q", name)
	}
	if len(dims) > MaxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions, at most %d supported", name, len(dims), MaxDims)
	}
	t := TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ}
	if !typ.Known() {
		return fmt.Errorf("gguf: tensor %q: unknown tensor type %d", name, uint32(typ))
	}
	n := uint64(1)
	for _, d := range dims {
		if d != 0 && n > maxSize/d {
			return fmt.Errorf("gguf: tensor %q: element count of dims %v overflows", name, dims)
		}
		n *= d
	}
	size, err := t.Bytes()
	if err != nil {
		return err
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q: %d bytes of data, %v %s needs %d", name, len(data), dims, typ, size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: t, data: data})
	return nil
}

// alignment returns the data alignment and whether general.alignment was given.
func (w *Writer) alignment() (uint64, bool) {
	for _, kv := range w.kvs {
		if kv.Key == KeyAlignment {
			return uint64(kv.Value.V.(uint32)), true
		}
	}
	return DefaultAlignment, false
}

// WriteTo writes the file: header, metadata (with general.alignment = 32
// appended unless one was added), tensor infos, then the aligned tensor data.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align, given := w.alignment()
	kvs := w.kvs
	if !given {
		kvs = append(kvs[:len(kvs):len(kvs)], KV{Key: KeyAlignment, Value: Value{Type: TypeUint32, V: uint32(align)}})
	}
	// Assign offsets.
	offsets := make([]uint64, len(w.tensors))
	var off uint64
	for i, t := range w.tensors {
		offsets[i] = off
		off = alignUp(off+uint64(len(t.data)), align)
	}

	e := &encoder{w: bufio.NewWriterSize(out, 1<<16)}
	e.bytes([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	for i, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.info.Type))
		e.u64(offsets[i])
	}
	e.pad(align)
	for _, t := range w.tensors {
		e.bytes(t.data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.n, e.err
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	m, err := e.w.Write(b)
	e.n += int64(m)
	e.err = err
}

func (e *encoder) u8(v uint8)   { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.bytes(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.bytes(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

var zeros [256]byte

func (e *encoder) pad(align uint64) {
	for n := alignUp(uint64(e.n), align) - uint64(e.n); n > 0; {
		k := min(n, uint64(len(zeros)))
		e.bytes(zeros[:k])
		n -= k
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// value writes v's payload (its type tag was written by the caller).
func (e *encoder) value(v Value) {
	switch x := v.V.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		e.u8(boolByte(x))
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	default:
		e.u32(uint32(v.Elem))
		e.u64(uint64(v.Len()))
		switch a := v.V.(type) {
		case []uint8:
			e.bytes(a)
		case []int8:
			for _, y := range a {
				e.u8(uint8(y))
			}
		case []bool:
			for _, y := range a {
				e.u8(boolByte(y))
			}
		case []uint16:
			for _, y := range a {
				e.u16(y)
			}
		case []int16:
			for _, y := range a {
				e.u16(uint16(y))
			}
		case []uint32:
			for _, y := range a {
				e.u32(y)
			}
		case []int32:
			for _, y := range a {
				e.u32(uint32(y))
			}
		case []float32:
			for _, y := range a {
				e.u32(math.Float32bits(y))
			}
		case []uint64:
			for _, y := range a {
				e.u64(y)
			}
		case []int64:
			for _, y := range a {
				e.u64(uint64(y))
			}
		case []float64:
			for _, y := range a {
				e.u64(math.Float64bits(y))
			}
		case []string:
			for _, y := range a {
				e.str(y)
			}
		case []Value:
			for _, y := range a {
				e.value(y)
			}
		}
	}
}

// toValue converts a Go value to a Value, checking a given Value's consistency.
func toValue(v any) (Value, error) {
	switch x := v.(type) {
	case Value:
		return checkValue(x, 0)
	case *Value:
		if x == nil {
			return Value{}, errors.New("nil *Value")
		}
		return checkValue(*x, 0)
	case int, uint, []int, []uint:
		return Value{}, fmt.Errorf("unsized integer type %T: use int32, uint32, int64, …", v)
	}
	if t, ok := scalarType(v); ok {
		return Value{Type: t, V: v}, nil
	}
	if t, ok := sliceElemType(v); ok {
		return Value{Type: TypeArray, Elem: t, V: v}, nil
	}
	if a, ok := v.([]Value); ok {
		val := Value{Type: TypeArray, Elem: TypeArray, V: a}
		return checkValue(val, 0)
	}
	return Value{}, fmt.Errorf("unsupported value type %T", v)
}

func scalarType(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return TypeUint8, true
	case int8:
		return TypeInt8, true
	case uint16:
		return TypeUint16, true
	case int16:
		return TypeInt16, true
	case uint32:
		return TypeUint32, true
	case int32:
		return TypeInt32, true
	case float32:
		return TypeFloat32, true
	case bool:
		return TypeBool, true
	case string:
		return TypeString, true
	case uint64:
		return TypeUint64, true
	case int64:
		return TypeInt64, true
	case float64:
		return TypeFloat64, true
	}
	return 0, false
}

func sliceElemType(v any) (ValueType, bool) {
	switch v.(type) {
	case []uint8:
		return TypeUint8, true
	case []int8:
		return TypeInt8, true
	case []uint16:
		return TypeUint16, true
	case []int16:
		return TypeInt16, true
	case []uint32:
		return TypeUint32, true
	case []int32:
		return TypeInt32, true
	case []float32:
		return TypeFloat32, true
	case []bool:
		return TypeBool, true
	case []string:
		return TypeString, true
	case []uint64:
		return TypeUint64, true
	case []int64:
		return TypeInt64, true
	case []float64:
		return TypeFloat64, true
	}
	return 0, false
}

// checkValue verifies that v.Type/Elem agree with the Go type in v.V.
func checkValue(v Value, depth int) (Value, error) {
	if v.Type != TypeArray {
		if t, ok := scalarType(v.V); ok && t == v.Type {
			return v, nil
		}
		return Value{}, fmt.Errorf("value of type %s holds %T", v.Type, v.V)
	}
	if depth >= maxArrayDepth {
		return Value{}, fmt.Errorf("arrays nested more than %d deep", maxArrayDepth)
	}
	if a, ok := v.V.([]Value); ok {
		if v.Elem != TypeArray {
			return Value{}, fmt.Errorf("array of %s holds []Value", v.Elem)
		}
		for _, e := range a {
			if e.Type != TypeArray {
				return Value{}, errors.New("nested array element is not an array")
			}
			if _, err := checkValue(e, depth+1); err != nil {
				return Value{}, err
			}
		}
		return v, nil
	}
	if t, ok := sliceElemType(v.V); ok && t == v.Elem {
		return v, nil
	}
	return Value{}, fmt.Errorf("array of %s holds %T", v.Elem, v.V)
}
