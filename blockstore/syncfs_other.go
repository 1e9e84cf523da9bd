//go:build !linux

package blockstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every filesystem (there is no syncfs here).
func syncFS(*os.File) error {
	unix.Sync()
	return nil
}
