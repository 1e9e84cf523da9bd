//go:build unix

package tokenizer

import (
	"testing"

	"github.com/ipfs-accelerate/accel/inference/mmap/mmaptest"
)

// LoadLlama2C refuses a device or a FIFO without reading from it or
// waiting for a writer.
func TestLoadLlama2CSpecialFiles(t *testing.T) {
	for _, path := range []string{"/dev/zero", mmaptest.FIFO(t)} {
		mmaptest.RefusesAtOnce(t, "LoadLlama2C", path, func(path string) error {
			_, err := LoadLlama2C(path, 512)
			return err
		})
	}
}
