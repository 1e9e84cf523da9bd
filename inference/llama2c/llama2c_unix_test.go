//go:build unix

package llama2c

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// Open refuses what is not a regular file without waiting for it.
func TestOpenRefusesSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	for _, path := range []string{fifo, "/dev/zero", t.TempDir()} {
		done := make(chan error, 1)
		go func() {
			_, err := Open(path)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, mmap.ErrNotRegular) {
				t.Errorf("Open(%s): %v, want a not-a-regular-file error", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%s) still blocks after 5 s", path)
		}
	}
}
