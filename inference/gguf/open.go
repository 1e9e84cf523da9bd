package gguf

import (
	"fmt"
	"os"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// Open maps the GGUF file at path read-only (mmap on unix, a whole read on
// js/wasm) and parses it; see OpenFile.
func Open(path string) (*File, error) {
	f, _, err := mmap.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer f.Close()
	return OpenFile(f)
}

// OpenFile maps the open regular file f read-only and parses it. Tensor
// data is served from the mapping until Close; f may be closed once
// OpenFile returns. The file must not be truncated while mapped. Errors
// about its contents start with f's name.
func OpenFile(f *os.File) (*File, error) {
	data, release, err := mmap.MapFile(f)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g, err := Decode(data)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	g.unmap = release
	return g, nil
}
