package quant

// A Device computes matrix products away from the CPU kernels: a GPU, say.
// A matrix placed on one (Place) has its products computed there;
// MatMulAll hands the device the products of matrices all placed on it.
type Device interface {
	// MatMul computes what MatMulAll computes, for matrices all placed on
	// the device. On an error the CPU kernels compute the product instead:
	// the device reports its failures itself.
	MatMul(dsts [][]float32, ms []*Matrix, x *Batch) error
}

// Place has d compute m's products from now on (nil: the CPU kernels). A
// matrix must not be placed while a product with it runs.
func (m *Matrix) Place(d Device) { m.device = d }

// Device is the device m is placed on (nil: none).
func (m *Matrix) Device() Device { return m.device }

// onDevice tries the products of ms on the device they are all placed on,
// and reports whether it computed them.
func onDevice(dsts [][]float32, ms []*Matrix, x *Batch) bool {
	d := ms[0].device
	if d == nil {
		return false
	}
	for _, m := range ms[1:] {
		if m.device != d {
			return false
		}
	}
	return d.MatMul(dsts, ms, x) == nil
}
