package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the repo's lock file.
const LockFile = "repo.lock"

// ErrLocked is returned when another process holds the repo.
var ErrLocked = errors.New("repo is locked by another process (a running daemon?)")

// lock takes an exclusive advisory lock (flock) on dir's lock file. The
// kernel drops it when the process exits, however it exits, so a killed
// process leaves no stale lock.
func lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}
