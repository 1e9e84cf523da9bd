package safetensors

import (
	"fmt"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// Open maps the .safetensors file at path read-only (mmap on unix, a whole
// read on js/wasm) and parses it. Tensor data is served from the mapping
// until Close. The file must not be truncated while mapped. Errors about
// its contents start with path.
func Open(path string) (*File, error) {
	data, release, err := mmap.Map(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.unmap = release
	return f, nil
}
