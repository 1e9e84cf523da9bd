//go:build !unix

package mmap

import "os"

func mapFile(path string) ([]byte, func() error, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if int64(int(st.Size())) != st.Size() {
		return nil, nil, errTooLarge(path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
