package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ipfs-accelerate/accel/inference/mmap"
)

// Hugging Face's file names for a model's weights: one file, or shards
// listed by an index.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Checkpoint is the tensors of one model, from a single file or from the
// shards of an index. Each name maps to one tensor; for a sharded model
// every tensor of every shard is listed by the index under that shard, and
// every tensor the index lists is there.
type Checkpoint struct {
	Tensors map[string]Tensor
	files   []*File
}

// OpenDir opens the checkpoint of a Hugging Face model directory: its
// model.safetensors, else the shards model.safetensors.index.json lists.
func OpenDir(dir string) (*Checkpoint, error) {
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		c := &Checkpoint{Tensors: map[string]Tensor{}, files: []*File{f}}
		for _, t := range f.Tensors {
			c.Tensors[t.Name] = t
		}
		return c, nil
	}
	index := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(index); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: safetensors: the directory has neither %s nor %s", dir, SingleFile, IndexFile)
	}
	return OpenIndex(index)
}

// MaxIndex bounds the size of a model.safetensors.index.json.
const MaxIndex = 64 << 20

// OpenIndex opens the shards a model.safetensors.index.json lists (its
// "weight_map" from tensor name to file name, in the index's directory).
// Errors about the index start with its path.
func OpenIndex(path string) (*Checkpoint, error) {
	raw, err := mmap.ReadFile(path, MaxIndex)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, fmt.Errorf("%s: safetensors: %w", path, err)
	}
	if len(index.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: safetensors: no weight_map", path)
	}
	var shards []string
	for name, shard := range index.WeightMap {
		if shard != filepath.Base(shard) || !filepath.IsLocal(shard) {
			return nil, fmt.Errorf("%s: safetensors: tensor %s: %q is not a file name in the index's directory", path, name, shard)
		}
		shards = append(shards, shard)
	}
	slices.Sort(shards)
	c := &Checkpoint{Tensors: map[string]Tensor{}}
	for _, shard := range slices.Compact(shards) {
		f, err := Open(filepath.Join(filepath.Dir(path), shard))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
		for _, t := range f.Tensors {
			if index.WeightMap[t.Name] != shard {
				c.Close()
				return nil, fmt.Errorf("%s: safetensors: tensor %s: the index places it in %q, but shard %s holds it", path, t.Name, index.WeightMap[t.Name], shard)
			}
			c.Tensors[t.Name] = t
		}
	}
	for name, shard := range index.WeightMap {
		if _, ok := c.Tensors[name]; !ok {
			c.Close()
			return nil, fmt.Errorf("%s: safetensors: tensor %s: the index places it in %s, which does not hold it", path, name, shard)
		}
	}
	return c, nil
}

// Close releases the files' memory mappings; the tensors' Data must not be
// used afterwards.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}
