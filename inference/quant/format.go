// Package quant stores weight matrices in full, half and quantized precisions
// and multiplies them with activation vectors, dequantizing on the fly and
// accumulating in float32.
//
// Rows are stored back to back, each in its format's row layout, so one row
// (or a range of rows) can be read, mapped or transferred on its own.
// All layouts are little-endian.
package quant

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is a storage family.
type Kind uint8

// Storage families. Q8_0, Q4_0 and the K-quants Q4K, Q5K and Q6K are
// GGML's block formats, bit for bit, so GGUF tensors run without
// conversion. Int is this project's group-wise integer format (see Format).
const (
	F32 Kind = iota
	F16
	BF16
	Q8_0
	Q4_0
	Int
	Q4K
	Q5K
	Q6K
)

// Format says how a matrix row is stored.
type Format struct {
	Kind  Kind
	Bits  int  // Int only: 2, 3, 4 or 8 bits per weight
	Group int  // Int only: weights per scale, a multiple of 32 in [32, 256]
	Asym  bool // Int only: each group has a zero point (asymmetric)
}

// Common formats.
var (
	FormatF32  = Format{Kind: F32}
	FormatF16  = Format{Kind: F16}
	FormatBF16 = Format{Kind: BF16}
	FormatQ8_0 = Format{Kind: Q8_0}
	FormatQ4_0 = Format{Kind: Q4_0}
	FormatQ4K  = Format{Kind: Q4K}
	FormatQ5K  = Format{Kind: Q5K}
	FormatQ6K  = Format{Kind: Q6K}
)

var kindNames = [...]string{F32: "f32", F16: "f16", BF16: "bf16", Q8_0: "q8_0", Q4_0: "q4_0", Q4K: "q4_K", Q5K: "q5_K", Q6K: "q6_K"}

// String names the format: "f32", "q4_0", "q4_K" (GGML's names), or for Int "int4g64" (symmetric)
// and "int4g64a" (asymmetric). ParseFormat reads the same names.
func (f Format) String() string {
	if f.Kind != Int {
		if int(f.Kind) < len(kindNames) && kindNames[f.Kind] != "" {
			return kindNames[f.Kind]
		}
		return fmt.Sprintf("kind(%d)", f.Kind)
	}
	s := fmt.Sprintf("int%dg%d", f.Bits, f.Group)
	if f.Asym {
		s += "a"
	}
	return s
}

// Validate reports whether the format is one this package implements.
func (f Format) Validate() error {
	if f.Kind > Q6K {
		return fmt.Errorf("quant: unknown format kind %d", f.Kind)
	}
	if f.Kind != Int {
		if f.Bits != 0 || f.Group != 0 || f.Asym {
			return fmt.Errorf("quant: format %s takes no bits, group or zero point", f)
		}
		return nil
	}
	switch f.Bits {
	case 2, 3, 4, 8:
	default:
		return fmt.Errorf("quant: %d-bit integers are not supported (use 2, 3, 4 or 8)", f.Bits)
	}
	if f.Group < 32 || f.Group > 256 || f.Group%32 != 0 {
		return fmt.Errorf("quant: group size %d is not a multiple of 32 in [32, 256]", f.Group)
	}
	return nil
}

// ParseFormat reads a name written by Format.String (case-insensitive).
func ParseFormat(s string) (Format, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for k, n := range kindNames {
		if n != "" && strings.EqualFold(n, name) {
			return Format{Kind: Kind(k)}, nil
		}
	}
	rest, ok := strings.CutPrefix(name, "int")
	if !ok {
		return Format{}, fmt.Errorf("quant: unknown format %q (want f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K or intNgG[a], e.g. int4g64)", s)
	}
	f := Format{Kind: Int}
	rest, f.Asym = strings.CutSuffix(rest, "a")
	bits, group, ok := strings.Cut(rest, "g")
	var err1, err2 error
	f.Bits, err1 = strconv.Atoi(bits)
	f.Group, err2 = strconv.Atoi(group)
	if !ok || err1 != nil || err2 != nil {
		return Format{}, fmt.Errorf("quant: malformed integer format %q (want e.g. int4g64 or int3g128a)", s)
	}
	if err := f.Validate(); err != nil {
		return Format{}, err
	}
	return f, nil
}

// RowBytes is the storage size of one row of cols weights.
func (f Format) RowBytes(cols int) int { return codecFor(f).rowBytes(cols) }

// BitsPerWeight is the storage cost per weight of a row of cols weights,
// scales and zero points included.
func (f Format) BitsPerWeight(cols int) float64 {
	return float64(8*f.RowBytes(cols)) / float64(cols)
}

// codec is one format's row layout and its dot-product kernel.
type codec interface {
	rowBytes(cols int) int
	// checkCols reports whether rows of cols weights can be stored.
	checkCols(cols int) error
	quantizeRow(dst []byte, src []float32)
	dequantizeRow(dst []float32, src []byte)
	// activations says which form of the activations dot reads.
	activations() activations
	// dot is the dot product of a stored row with activation vector t of x.
	dot(row []byte, x *Batch, t int) float32
}

// activations is the form of the activation vectors a codec's dot reads.
type activations uint8

const (
	actF32 activations = iota // the float32 values
	actQ8                     // 8-bit blocks of 32 (Batch.quantize)
	actQ8K                    // 8-bit blocks of 256 with sums per 16 (Batch.quantizeK)
)

func codecFor(f Format) codec {
	switch f.Kind {
	case F32:
		return f32Codec{}
	case F16:
		return f16Codec{}
	case BF16:
		return bf16Codec{}
	case Q8_0:
		return q8_0Codec{}
	case Q4_0:
		return q4_0Codec{}
	case Int:
		return newIntCodec(f)
	case Q4K:
		return q4KCodec{}
	case Q5K:
		return q5KCodec{}
	case Q6K:
		return q6KCodec{}
	}
	panic("quant: unknown format " + f.String()) // Validate rejects these first
}
