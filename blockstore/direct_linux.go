package blockstore

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// errNoDirectIO is returned where the filesystem refuses direct I/O.
var errNoDirectIO = errors.New("direct I/O not supported")

// openDirect creates path for writing with O_DIRECT.
func openDirect(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_DIRECT, 0o644)
	return f, directError(err)
}

// stopDirect turns O_DIRECT off, for a write of a partial page.
func stopDirect(f *os.File) error {
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(f.Fd(), unix.F_SETFL, flags&^unix.O_DIRECT)
	}
	if err != nil {
		return fmt.Errorf("turning direct I/O off: %w", err)
	}
	return nil
}

// directError is errNoDirectIO for EINVAL, which Linux returns when a
// filesystem or device cannot do the direct I/O asked of it.
func directError(err error) error {
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: %w", errNoDirectIO, err)
	}
	return err
}
