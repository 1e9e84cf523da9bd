//go:build unix

package loader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/mmap/mmaptest"

	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// Import takes regular files (and a model directory) only: a device or a
// FIFO, as the model, its tokenizer or a file of a model directory, is
// refused at once, without a read from it or a wait for a writer.
func TestImportRefusesSpecialFiles(t *testing.T) {
	fifo := mmaptest.FIFO(t)
	bin := llama2cSource(t)
	linkedConfig := hfModel(t, nil)
	config := filepath.Join(linkedConfig, "config.json")
	if err := os.Remove(config); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", config); err != nil {
		t.Fatal(err)
	}
	fifoWeights := hfModel(t, nil)
	weights := filepath.Join(fifoWeights, "model.safetensors")
	if err := os.Remove(weights); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(weights, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  Source
		want string
	}{
		{"device", Source{Path: "/dev/zero"}, "/dev/zero: not a regular file"},
		{"FIFO", Source{Path: fifo}, fifo + ": not a regular file"},
		{"device tokenizer", Source{Path: bin.Path, Tokenizer: "/dev/zero"}, "/dev/zero: not a regular file"},
		{"FIFO tokenizer", Source{Path: bin.Path, Tokenizer: fifo}, fifo + ": not a regular file"},
		{"device config.json", Source{Path: linkedConfig}, config + ": not a regular file"},
		{"FIFO weights", Source{Path: fifoWeights}, weights + ": not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := mmaptest.RefusesAtOnce(t, "Import", c.src.Path, func(string) error {
				_, _, err := Import(context.Background(), c.src, ImportOptions{}, dagstore.New(newStore()))
				return err
			})
			if err != nil && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
