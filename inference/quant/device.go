package quant

import (
	"errors"
	"fmt"
	"slices"
)

// A Device computes matrix products away from the CPU kernels: a GPU, say.
// A matrix placed on one (Place) has its products computed there;
// MatMulAll hands the device the products of matrices all placed on it.
type Device interface {
	// MatMul computes what MatMulAll computes, for matrices all placed on
	// the device. On an error the CPU kernels compute the product instead
	// (but for held matrices: see NewHeldMatrix): the device reports its
	// failures itself.
	MatMul(dsts [][]float32, ms []*Matrix, x *Batch) error
}

// Place has d compute m's products from now on (nil: the CPU kernels). A
// matrix must not be placed while a product with it runs, nor a held or
// packed one at all (it panics).
func (m *Matrix) Place(d Device) {
	if m.held {
		panic("quant: a held matrix stays on its device")
	}
	if m.packed > 0 && d != nil {
		panic("quant: a packed matrix's rows are not as stored: devices take the matrix before Pack")
	}
	m.device = d
}

// Device is the device m is placed on (nil: none).
func (m *Matrix) Device() Device { return m.device }

var errNotOnOneDevice = errors.New("the matrices are not all on one device")

// onDevice tries the products of ms on the device they are all placed on,
// and reports whether it computed them. It panics when it did not and a
// matrix is held on a device: the CPU kernels have no rows to compute with.
func onDevice(dsts [][]float32, ms []*Matrix, x *Batch) bool {
	d := ms[0].device
	err := errNotOnOneDevice
	if d != nil && !slices.ContainsFunc(ms, func(m *Matrix) bool { return m.device != d }) {
		if err = d.MatMul(dsts, ms, x); err == nil {
			return true
		}
	}
	if slices.ContainsFunc(ms, func(m *Matrix) bool { return m.held }) {
		panic(fmt.Sprintf("quant: the products of a matrix held on a device failed: %v", err))
	}
	return false
}
