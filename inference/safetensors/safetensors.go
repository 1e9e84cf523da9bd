// Package safetensors reads Hugging Face .safetensors files: an 8-byte
// little-endian header length, a JSON header mapping each tensor name to
// its dtype, shape and byte range ({"dtype", "shape", "data_offsets"}) plus
// an optional "__metadata__" map of strings, then the tensor bytes.
//
// Only the float dtypes a Llama checkpoint stores are read: F32, F16 and
// BF16, little-endian as the format prescribes. A header that lies (a
// length past the end of the file, byte ranges out of bounds, overlapping
// or leaving holes, a shape whose size is not the range's length) is an
// error, and parsing allocates in proportion to the header, never to the
// sizes it claims.
package safetensors

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxHeader bounds the JSON header, as Hugging Face's reader does.
const MaxHeader = 100_000_000

// DType is a tensor's element type, spelled as in the header.
type DType string

// The dtypes this package reads.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size is the number of bytes of one element, or 0 for a dtype this
// package does not read.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Tensor is one tensor of a file. Data holds exactly the product of Shape
// (outermost first) elements of DType and aliases the file's bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is a parsed .safetensors file. Its tensors, sorted by name, exactly
// tile the data section: their byte ranges lie within it, do not overlap
// and leave no gaps.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
	unmap    func() error
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := slices.BinarySearchFunc(f.Tensors, name, func(t Tensor, name string) int { return strings.Compare(t.Name, name) })
	if !ok {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Close releases the file's memory mapping, if Open made one; the tensors'
// Data must not be used afterwards.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	return err
}

// header is one tensor's entry in the JSON header.
type header struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Parse reads a .safetensors file held in memory; the tensors alias data.
// Errors about the header's framing quote nothing of the data: it has no
// magic number, so it may be any file.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, errors.New("safetensors: shorter than the 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeader {
		return nil, fmt.Errorf("safetensors: the header length is over the limit of %d bytes", MaxHeader)
	}
	if n > uint64(len(data)-8) {
		return nil, errors.New("safetensors: the header runs past the end of the file")
	}
	body := data[8+n:]
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &entries); err != nil {
		return nil, errors.New("safetensors: the header is not a JSON object")
	}
	f := &File{}
	var spans []span
	for name, raw := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var h header
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		t, err := h.tensor(name, body)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		f.Tensors = append(f.Tensors, t)
		spans = append(spans, span{name, h.DataOffsets[0], h.DataOffsets[1]})
	}
	if err := checkTiling(spans, int64(len(body))); err != nil {
		return nil, err
	}
	slices.SortFunc(f.Tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// tensor checks h against the data section body and returns its tensor.
func (h header) tensor(name string, body []byte) (Tensor, error) {
	size := h.DType.Size()
	if size == 0 {
		return Tensor{}, fmt.Errorf("dtype %q is not supported (want F32, F16 or BF16)", h.DType)
	}
	begin, end := h.DataOffsets[0], h.DataOffsets[1]
	if begin < 0 || begin > end || end > int64(len(body)) {
		return Tensor{}, fmt.Errorf("data_offsets [%d, %d] are outside the %d-byte data section", begin, end, len(body))
	}
	shape := make([]int, len(h.Shape))
	elems := int64(1)
	for i, d := range h.Shape {
		if d < 0 || int64(int(d)) != d {
			return Tensor{}, fmt.Errorf("shape %v is out of range", h.Shape)
		}
		if d != 0 && elems > int64(len(body))/d {
			return Tensor{}, fmt.Errorf("shape %v of %s needs more bytes than the %d-byte data section", h.Shape, h.DType, len(body))
		}
		elems *= d
		shape[i] = int(d)
	}
	if elems*int64(size) != end-begin {
		return Tensor{}, fmt.Errorf("shape %v of %s takes %d bytes, data_offsets [%d, %d] give %d", h.Shape, h.DType, elems*int64(size), begin, end, end-begin)
	}
	return Tensor{Name: name, DType: h.DType, Shape: shape, Data: body[begin:end:end]}, nil
}

// span is a tensor's byte range in the data section.
type span struct {
	name       string
	begin, end int64
}

// checkTiling checks that the spans cover a data section of size bytes
// exactly, without overlaps or holes, as the format requires.
func checkTiling(spans []span, size int64) error {
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			return cmp.Compare(a.begin, b.begin)
		}
		return cmp.Compare(a.end, b.end)
	})
	at, prev := int64(0), ""
	for _, s := range spans {
		switch {
		case s.begin < at:
			return fmt.Errorf("safetensors: tensor %s (bytes %d…%d) overlaps tensor %s", s.name, s.begin, s.end, prev)
		case s.begin > at:
			return fmt.Errorf("safetensors: bytes %d…%d of the data section belong to no tensor", at, s.begin)
		}
		at, prev = s.end, s.name
	}
	if at != size {
		return fmt.Errorf("safetensors: bytes %d…%d of the data section belong to no tensor", at, size)
	}
	return nil
}
