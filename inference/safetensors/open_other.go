//go:build !unix

package safetensors

import (
	"fmt"
	"os"
)

// Open reads the .safetensors file at path whole into memory and parses it
// (platforms without mmap, such as js/wasm).
func Open(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return f, nil
}
