//go:build unix

package mmap

import (
	"fmt"
	"os"
	"syscall"
)

// openNonblocking opens path read-only without waiting for a FIFO's writer
// or a device, and without making a terminal the controlling one.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

func evict(pages []byte) error { return syscall.Madvise(pages, syscall.MADV_DONTNEED) }
