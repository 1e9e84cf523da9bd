//go:build !linux

package daemontest

import (
	"errors"
	"syscall"
)

func dieWithParent() *syscall.SysProcAttr { return nil }

// PeakRSS is not measured outside Linux.
func PeakRSS(pid int) (int64, error) { return 0, errors.New("peak RSS needs Linux") }

// ResetPeakRSS does nothing outside Linux.
func ResetPeakRSS(pid int) error { return nil }
