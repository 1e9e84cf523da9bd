package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Write writes tensors, in order and back to back, with metadata (nil for
// none) as a .safetensors file. Each tensor's Data must hold its shape's
// size in its dtype.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	head := map[string]any{}
	if metadata != nil {
		head["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		n := int64(t.DType.Size())
		for _, d := range t.Shape {
			n *= int64(d)
		}
		if t.DType.Size() == 0 || n != int64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %s: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		head[t.Name] = map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(head)
	if err != nil {
		return err
	}
	// Pad the header with spaces so the data section starts 8-aligned, as
	// Hugging Face's writer does.
	js = append(js, bytes.Repeat([]byte(" "), (8-len(js)%8)%8)...)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(append(n[:], js...)); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}
