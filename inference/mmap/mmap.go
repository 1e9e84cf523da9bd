// Package mmap maps files read-only into memory: with mmap(2) on unix, by
// reading them whole elsewhere (js/wasm). Model readers serve tensor data
// straight from the mapping.
package mmap

import "fmt"

// Map returns the bytes of the regular file at path and a function that
// releases them; the bytes must not be used after it. The file must not be
// truncated while mapped. An empty file maps to no bytes.
func Map(path string) (data []byte, release func() error, err error) {
	return mapFile(path)
}

// errTooLarge is the error for a file whose size does not fit an int.
func errTooLarge(path string, size int64) error {
	return fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
}
