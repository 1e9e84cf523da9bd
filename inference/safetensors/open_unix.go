//go:build unix

package safetensors

import (
	"fmt"
	"os"
	"syscall"
)

// Open memory-maps the .safetensors file at path (read-only) and parses it.
// Tensor data is served from the mapping until Close. The file must not be
// truncated while mapped.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is shorter than the 8-byte header length", path, size)
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("safetensors: mmap %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	f.unmap = func() error { return syscall.Munmap(data) }
	return f, nil
}
