//go:build unix

package mmap

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Open takes regular files and directories, refuses anything else without
// blocking, and reports a failed open as os.Open does.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero", "/dev/null"} {
		done := make(chan error, 1)
		go func() {
			f, _, err := Open(path)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("Open(%s): %v, want a not-a-regular-file error naming it", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%s) still blocks after 5 s", path)
		}
	}
	f, st, err := Open(dir)
	if err != nil || !st.IsDir() {
		t.Fatalf("Open(dir): %v, %v", st, err)
	}
	f.Close()
	if _, _, err := OpenRegular(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenRegular(dir): %v", err)
	}
	f, size, err := OpenRegular(file)
	if err != nil || size != 10 {
		t.Fatalf("OpenRegular(file): %d, %v", size, err)
	}
	f.Close()
	var pe *fs.PathError
	if _, _, err := Open(filepath.Join(dir, "absent")); !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(absent): %v", err)
	}
	if _, err := ReadFile(file, 9); err == nil || !strings.Contains(err.Error(), "larger than the 9-byte limit") {
		t.Errorf("ReadFile over the limit: %v", err)
	}
	if data, err := ReadFile(file, 10); err != nil || string(data) != "0123456789" {
		t.Errorf("ReadFile: %q, %v", data, err)
	}
	if _, err := ReadFile("/dev/zero", 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile(/dev/zero): %v", err)
	}
}

// EvictExcept leaves the mapping's contents as they were, whatever it
// keeps: evicted pages are read from the file again.
func TestEvictExcept(t *testing.T) {
	page := os.Getpagesize()
	want := make([]byte, 40*page+123)
	for i := range want {
		want[i] = byte(i*7 + i/page)
	}
	path := filepath.Join(t.TempDir(), "model")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	data, release, err := Map(path)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	other := make([]byte, 100)
	for _, keep := range [][][]byte{
		nil,
		{data[5*page+10 : 7*page], data[:1], data[len(data)-3:]},
		{data[20*page : 21*page], data[3*page : 30*page], other, data[9:9]},
		{data},
	} {
		if err := EvictExcept(data, keep); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("after EvictExcept keeping %d ranges the mapping differs from the file", len(keep))
		}
	}
}
