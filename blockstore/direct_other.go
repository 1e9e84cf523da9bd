//go:build !linux

package blockstore

import (
	"errors"
	"os"
)

// errNoDirectIO is returned where direct I/O is not supported: on this
// system, always, so every write goes through the page cache.
var errNoDirectIO = errors.New("direct I/O not supported")

func openDirect(string) (*os.File, error) { return nil, errNoDirectIO }

func stopDirect(*os.File) error { return errNoDirectIO }

func directError(err error) error { return err }
