//go:build !linux

package interop

import (
	"errors"
	"syscall"
)

func daemonAttr() *syscall.SysProcAttr { return nil }

func peakRSS(pid int) (int64, error) { return 0, errors.New("peak RSS needs Linux") }

func resetPeakRSS(pid int) error { return nil }
