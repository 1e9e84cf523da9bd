package gguf

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// Type is a GGML tensor element type, with the numeric ids used in GGUF files
// (enum ggml_type in ggml.h). Ids 4, 5 and 31–33, 36–38 are retired upstream.
type Type uint32

// GGML tensor types.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

type typeTraits struct {
	name      string // as ggml_type_name prints it
	blockSize int    // elements per block
	typeSize  int    // bytes per block
}

var traits = map[Type]typeTraits{
	F32:     {"f32", 1, 4},
	F16:     {"f16", 1, 2},
	Q4_0:    {"q4_0", 32, 2 + 16},
	Q4_1:    {"q4_1", 32, 2 + 2 + 16},
	Q5_0:    {"q5_0", 32, 2 + 4 + 16},
	Q5_1:    {"q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0:    {"q8_0", 32, 2 + 32},
	Q8_1:    {"q8_1", 32, 2 + 2 + 32},
	Q2_K:    {"q2_K", 256, 16 + 64 + 2 + 2},
	Q3_K:    {"q3_K", 256, 32 + 64 + 12 + 2},
	Q4_K:    {"q4_K", 256, 2 + 2 + 12 + 128},
	Q5_K:    {"q5_K", 256, 2 + 2 + 12 + 32 + 128},
	Q6_K:    {"q6_K", 256, 128 + 64 + 16 + 2},
	Q8_K:    {"q8_K", 256, 4 + 256 + 16*2},
	IQ2_XXS: {"iq2_xxs", 256, 2 + 32*2},
	IQ2_XS:  {"iq2_xs", 256, 2 + 32*2 + 8},
	IQ3_XXS: {"iq3_xxs", 256, 2 + 3*32},
	IQ1_S:   {"iq1_s", 256, 2 + 32 + 16},
	IQ4_NL:  {"iq4_nl", 32, 2 + 16},
	IQ3_S:   {"iq3_s", 256, 2 + 13*8 + 4},
	IQ2_S:   {"iq2_s", 256, 2 + 64 + 16},
	IQ4_XS:  {"iq4_xs", 256, 2 + 2 + 4 + 128},
	I8:      {"i8", 1, 1},
	I16:     {"i16", 1, 2},
	I32:     {"i32", 1, 4},
	I64:     {"i64", 1, 8},
	F64:     {"f64", 1, 8},
	IQ1_M:   {"iq1_m", 256, 32 + 16 + 8},
	BF16:    {"bf16", 1, 2},
	TQ1_0:   {"tq1_0", 256, 48 + 4 + 2},
	TQ2_0:   {"tq2_0", 256, 64 + 2},
	MXFP4:   {"mxfp4", 32, 1 + 16},
}

// String returns the type's name as ggml spells it ("f32", "q4_0", "q6_K", …),
// or "type(N)" for an unknown id.
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether t is a tensor type this package knows the layout of.
func (t Type) Known() bool { _, ok := traits[t]; return ok }

// BlockSize returns the number of elements per block (1 for plain types,
// 32 or 256 for block-quantized ones), or 0 for an unknown type.
func (t Type) BlockSize() int { return traits[t].blockSize }

// TypeSize returns the number of bytes per block, or 0 for an unknown type.
func (t Type) TypeSize() int { return traits[t].typeSize }

// RowBytes returns the number of bytes n consecutive elements occupy. n must be
// a multiple of the block size; unknown types and overflow are errors.
func (t Type) RowBytes(n uint64) (uint64, error) {
	size, err := t.rowBytes(n)
	if err != nil {
		return 0, errors.New("gguf: " + err.Error())
	}
	return size, nil
}

// rowBytes is RowBytes with errors lacking the "gguf: " prefix.
func (t Type) rowBytes(n uint64) (uint64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, errors.New("unknown tensor type")
	}
	bs := uint64(tr.blockSize)
	if n%bs != 0 {
		return 0, fmt.Errorf("row length is not a multiple of the %s block size %d", tr.name, bs)
	}
	hi, lo := bits.Mul64(n/bs, uint64(tr.typeSize))
	if hi != 0 || lo > maxSize {
		return 0, fmt.Errorf("the size of a row of %s overflows", tr.name)
	}
	return lo, nil
}

// ParseType returns the type with the given name, case-insensitively
// ("Q4_K", "q4_k", "f32").
func ParseType(name string) (Type, error) {
	for t, tr := range traits {
		if strings.EqualFold(tr.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("gguf: unknown tensor type %q", name)
}

// maxSize bounds byte sizes and element counts (as int64 in ggml).
const maxSize = 1<<63 - 1

// ValueType is the type of a metadata value (gguf_type).
type ValueType uint32

// Metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

// String returns a short name ("u32", "string", "array", …).
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// size returns the encoded size of a fixed-size value type, 0 otherwise.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest number of bytes a value of type t can occupy, or 0
// if t is not a valid value type.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8 // u64 length
	case TypeArray:
		return 4 + 8 // element type, u64 count
	}
	return t.size()
}
