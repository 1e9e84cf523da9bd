//go:build unix

package mmaptest

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// FIFO makes a FIFO in a temporary directory and returns its path,
// skipping the test where none can be made.
func FIFO(tb testing.TB) string {
	tb.Helper()
	fifo := filepath.Join(tb.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		tb.Skip(err)
	}
	return fifo
}

// RefusesAtOnce checks that open(path) fails with mmap.ErrNotRegular
// within 5 seconds, and returns its error; name is open's name for
// messages.
func RefusesAtOnce(tb testing.TB, name, path string, open func(path string) error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- open(path) }()
	select {
	case err := <-done:
		if !errors.Is(err, mmap.ErrNotRegular) {
			tb.Errorf("%s(%s): %v, want a not-a-regular-file error", name, path, err)
		}
		return err
	case <-time.After(5 * time.Second):
		tb.Fatalf("%s(%s) still blocks after 5 s", name, path)
		return nil
	}
}
