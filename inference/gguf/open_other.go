//go:build !unix

package gguf

import (
	"fmt"
	"os"
)

// Open reads the GGUF file at path whole into memory and parses it (platforms
// without mmap, such as js/wasm).
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
