package loader

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/gguf"
	"github.com/ipfs-accelerate/accel/inference/synth"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
)

// BenchmarkImport measures import throughput (MB/s of the source file) of
// a synthetic Q8_0 model at each allowed chunk size, beside the reference:
// a plain UnixFS add of the same file with the same layout (what
// `ipfs add --cid-version=1 --raw-leaves --chunker=size-N` does), into an
// in-memory blockstore.
func BenchmarkImport(b *testing.B) {
	shape := synth.Shape{Dim: 1024, HiddenDim: 2816, Layers: 2, Heads: 16, KVHeads: 4, Vocab: 4096, SeqLen: 256, Seed: 1}
	path := writeSynth(b, shape, gguf.Q8_0)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, chunk := range []int{256 << 10, 512 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("accel/chunk=%dKiB", chunk>>10), func(b *testing.B) {
			b.SetBytes(st.Size())
			for b.Loop() {
				if _, _, err := Import(ctx, Source{Path: path}, ImportOptions{ChunkSize: chunk}, dagstore.New(newStore())); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("unixfs-add/chunk=%dKiB", chunk>>10), func(b *testing.B) {
			b.SetBytes(st.Size())
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				_, err = dagstore.New(newStore()).AddFile(ctx, f, chunk, DAGWidth, FilePrefix)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
