package gguf

import (
	"fmt"
	"math"
	"strings"
)

// Value is one metadata value.
//
// V holds the Go value: for scalars one of uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64 (matching Type); for
// arrays (Type == TypeArray) a slice of the element type ([]uint8, …,
// []string, []bool), or []Value for arrays of arrays, with Elem the element type.
type Value struct {
	Type ValueType
	Elem ValueType // element type when Type == TypeArray
	V    any
}

// KV is one metadata key/value pair.
type KV struct {
	Key   string
	Value Value
}

// Len returns the number of elements of an array value, or 0 for a scalar.
func (v Value) Len() int {
	switch a := v.V.(type) {
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []string:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	case []Value:
		return len(a)
	}
	return 0
}

// String formats the value briefly: scalars in full (long strings cut), arrays as
// "[string × 512] <unk>, <s>, </s>, …".
func (v Value) String() string {
	if v.Type != TypeArray {
		if s, ok := v.V.(string); ok {
			return shortQuote(s, 80)
		}
		return fmt.Sprint(v.V)
	}
	n := v.Len()
	var b strings.Builder
	fmt.Fprintf(&b, "[%s × %d]", v.Elem, n)
	for i := 0; i < n && i < 5; i++ {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(v.index(i))
	}
	if n > 5 {
		b.WriteString(", …")
	}
	return b.String()
}

func (v Value) index(i int) string {
	switch a := v.V.(type) {
	case []string:
		return shortQuote(a[i], 24)
	case []Value:
		return a[i].String()
	}
	return fmt.Sprint(indexAny(v.V, i))
}

func indexAny(v any, i int) any {
	switch a := v.(type) {
	case []uint8:
		return a[i]
	case []int8:
		return a[i]
	case []uint16:
		return a[i]
	case []int16:
		return a[i]
	case []uint32:
		return a[i]
	case []int32:
		return a[i]
	case []float32:
		return a[i]
	case []bool:
		return a[i]
	case []string:
		return a[i]
	case []uint64:
		return a[i]
	case []int64:
		return a[i]
	case []float64:
		return a[i]
	case []Value:
		return a[i]
	}
	return nil
}

func shortQuote(s string, max int) string {
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// Uint returns a scalar integer value as uint64; ok is false for non-integers
// and negative values.
func (v Value) Uint() (uint64, bool) {
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8, int16, int32, int64:
		i, _ := v.Int()
		if i < 0 {
			return 0, false
		}
		return uint64(i), true
	}
	return 0, false
}

// Int returns a scalar integer value as int64; ok is false for non-integers
// and uint64 values above math.MaxInt64.
func (v Value) Int() (int64, bool) {
	switch x := v.V.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8, uint16, uint32, uint64:
		u, _ := v.Uint()
		if u > math.MaxInt64 {
			return 0, false
		}
		return int64(u), true
	}
	return 0, false
}

// Float returns a float32 or float64 value as float64.
func (v Value) Float() (float64, bool) {
	switch x := v.V.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Int32s returns an integer array as []int32, converting other integer element
// types when every element fits; ok is false otherwise. An []int32 array is
// returned without copying.
func (v Value) Int32s() ([]int32, bool) {
	if a, ok := v.V.([]int32); ok {
		return a, true
	}
	n := v.Len()
	switch v.V.(type) {
	case []uint8, []int8, []uint16, []int16, []uint32, []uint64, []int64:
	default:
		return nil, false
	}
	out := make([]int32, n)
	for i := range n {
		e := Value{V: indexAny(v.V, i)}
		x, ok := e.Int()
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

// Float32s returns a float array as []float32 (float64 elements are converted).
// An []float32 array is returned without copying.
func (v Value) Float32s() ([]float32, bool) {
	switch a := v.V.(type) {
	case []float32:
		return a, true
	case []float64:
		out := make([]float32, len(a))
		for i, x := range a {
			out[i] = float32(x)
		}
		return out, true
	}
	return nil, false
}
