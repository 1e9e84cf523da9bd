package blockstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the filesystem that holds f.
func syncFS(f *os.File) error { return unix.Syncfs(int(f.Fd())) }
