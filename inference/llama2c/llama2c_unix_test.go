//go:build unix

package llama2c

import (
	"testing"

	"github.com/ipfs-accelerate/accel/inference/mmap/mmaptest"
)

// Open refuses what is not a regular file without waiting for it.
func TestOpenRefusesSpecialFiles(t *testing.T) {
	for _, path := range []string{mmaptest.FIFO(t), "/dev/zero", t.TempDir()} {
		mmaptest.RefusesAtOnce(t, "Open", path, func(path string) error {
			_, err := Open(path)
			return err
		})
	}
}
