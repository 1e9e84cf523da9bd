//go:build unix

package tokenizer

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// LoadLlama2C refuses a device or a FIFO without reading from it or
// waiting for a writer.
func TestLoadLlama2CSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	for _, path := range []string{"/dev/zero", fifo} {
		done := make(chan error, 1)
		go func() {
			_, err := LoadLlama2C(path, 512)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, mmap.ErrNotRegular) {
				t.Errorf("LoadLlama2C(%s): %v, want a not-a-regular-file error", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("LoadLlama2C(%s) still blocks after 5 s", path)
		}
	}
}
