// Package mmap opens model files for reading and maps them read-only: with
// mmap(2) on unix, by reading them whole elsewhere (js/wasm). Model readers
// serve tensor data straight from the mapping.
//
// Opening takes only what a model can be: a regular file (or, for Open, a
// directory). The kind of file is checked on the opened handle, not the
// path, and the open itself never blocks, so a FIFO, a device or a socket
// is refused before a byte of it is read.
package mmap

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"unsafe"
)

// ErrNotRegular is the error for a path that is not a regular file (nor,
// for Open, a directory).
var ErrNotRegular = errors.New("not a regular file")

// Open opens the regular file or directory at path read-only and returns
// it with its status, read from the handle. Anything else is refused with
// an error wrapping ErrNotRegular; an error of the open itself is the
// *fs.PathError os.Open gives.
func Open(path string) (*os.File, fs.FileInfo, error) {
	f, err := openNonblocking(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return f, st, nil
}

// OpenRegular is Open for a regular file only; it returns the file's size.
func OpenRegular(path string) (*os.File, int64, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: is a directory: %w", path, ErrNotRegular)
	}
	return f, st.Size(), nil
}

// ReadFile reads the regular file at path whole, refusing one larger than
// limit bytes before reading it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, size, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: larger than the %d-byte limit for this file", path, limit)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// Map returns the bytes of the regular file at path and a function that
// releases them; the bytes must not be used after it. The file must not be
// truncated while mapped. An empty file maps to no bytes.
func Map(path string) (data []byte, release func() error, err error) {
	f, _, err := OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return MapFile(f)
}

// MapFile is Map for an open regular file; f may be closed once it
// returns, the mapping stays until release.
func MapFile(f *os.File) (data []byte, release func() error, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", f.Name(), ErrNotRegular)
	}
	size := st.Size()
	if size == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("%s: file of %d bytes is too large to map", f.Name(), size)
	}
	return mapFile(f, int(size))
}

// EvictExcept takes the pages of mapped, the bytes Map or MapFile
// returned, out of the process's resident memory, but for the pages that
// hold keep's ranges (slices of mapped): what a program converted on load
// and no longer reads. The pages stay in the file; a later read of them
// faults them in again, so the mapping's contents never change.
func EvictExcept(mapped []byte, keep [][]byte) error {
	if len(mapped) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(&mapped[0]))
	page := uintptr(os.Getpagesize())
	type span struct{ from, to uintptr } // offsets in mapped, page-aligned outward
	var kept []span
	for _, k := range keep {
		if len(k) == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(&k[0]))
		if p < base || p-base+uintptr(len(k)) > uintptr(len(mapped)) {
			continue // not in the mapping
		}
		kept = append(kept, span{(p - base) &^ (page - 1), min((p-base+uintptr(len(k))+page-1)&^(page-1), uintptr(len(mapped)))})
	}
	slices.SortFunc(kept, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	at := uintptr(0)
	for _, s := range append(kept, span{uintptr(len(mapped)), uintptr(len(mapped))}) {
		if s.from > at {
			if err := evict(mapped[at:s.from]); err != nil {
				return err
			}
		}
		at = max(at, s.to)
	}
	return nil
}
