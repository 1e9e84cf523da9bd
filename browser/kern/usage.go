//go:build js && wasm

package kern

import (
	"sync/atomic"
	"time"
)

// Usage is what a kernel device has computed: its calls (quant.MatMulAll's
// products, quant.VectorDevice's) and the time they took, copies in and out
// included.
type Usage struct {
	Calls int64
	Busy  time.Duration
}

// meter counts a device's Usage; safe for concurrent use.
type meter struct {
	calls, busy atomic.Int64
}

// record counts one call that began at start.
func (m *meter) record(start time.Time) {
	m.calls.Add(1)
	m.busy.Add(int64(time.Since(start)))
}

// Usage is what the device has computed so far.
func (m *meter) Usage() Usage {
	return Usage{Calls: m.calls.Load(), Busy: time.Duration(m.busy.Load())}
}
