package node

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/felixge/httpsnoop"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ipfs-accelerate/accel/offload"
)

// metrics is the node's Prometheus registry: peers, hot-cache hits and
// misses, bitswap, bulk-transfer and gateway traffic, what the offload
// server holds and refused, and the Go runtime.
// Values are read when scraped. It also keeps the counters no other
// service keeps, and the traffic of the last minutes for the dashboard.
type metrics struct {
	reg     *prometheus.Registry
	started time.Time

	transferIn  atomic.Uint64 // block bytes received over the bulk transfer protocol
	gatewaySent atomic.Uint64 // response bytes of the trustless gateway
	gatewayReqs atomic.Int64  // gateway requests in flight
	bandwidth   *bandwidthLog // traffic rates, sampled every second
}

// newMetrics registers n's metrics and samples its traffic until n closes.
func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), started: time.Now(), bandwidth: newBandwidthLog(bandwidthSamples)}
	go m.bandwidth.run(n.ctx, time.Second, func() (uint64, uint64) { return m.traffic(n) })
	reg := m.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "accel", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "accel", Name: name, Help: help}, f))
	}
	gauge("peers", "Connected peers.", func() float64 { return float64(len(n.Host.Network().Peers())) })
	counter("cache_hits_total", "Block reads answered by the hot cache.", func() float64 { return float64(n.Blocks.Stats().Hits) })
	counter("cache_misses_total", "Block reads that went to disk.", func() float64 { return float64(n.Blocks.Stats().Misses) })
	gauge("cache_bytes", "Bytes of blocks in the hot cache.", func() float64 { return float64(n.Blocks.Stats().Bytes) })
	gauge("cache_max_bytes", "Budget of the hot cache.", func() float64 { return float64(n.Blocks.Stats().MaxBytes) })
	fromBitswap := func(f func(s bitswapStat) float64) func() float64 {
		return func() float64 {
			st, err := n.Bitswap.Stat()
			if err != nil {
				return 0
			}
			return f(bitswapStat{st.BlocksReceived, st.DataReceived, st.BlocksSent, st.DataSent})
		}
	}
	counter("bitswap_blocks_received_total", "Blocks received over bitswap.", fromBitswap(func(s bitswapStat) float64 { return float64(s.blocksIn) }))
	counter("bitswap_received_bytes_total", "Bytes received over bitswap.", fromBitswap(func(s bitswapStat) float64 { return float64(s.bytesIn) }))
	counter("bitswap_blocks_sent_total", "Blocks sent over bitswap.", fromBitswap(func(s bitswapStat) float64 { return float64(s.blocksOut) }))
	counter("bitswap_sent_bytes_total", "Bytes sent over bitswap.", fromBitswap(func(s bitswapStat) float64 { return float64(s.bytesOut) }))
	counter("transfer_blocks_sent_total", "Blocks sent over the bulk transfer protocol.", func() float64 { return float64(n.Transfer.Stats().BlocksServed) })
	counter("transfer_sent_bytes_total", "Bytes sent over the bulk transfer protocol.", func() float64 { return float64(n.Transfer.Stats().BytesServed) })
	counter("transfer_received_bytes_total", "Bytes received over the bulk transfer protocol.", func() float64 { return float64(m.transferIn.Load()) })
	counter("gateway_sent_bytes_total", "Response bytes sent by the trustless gateway.", func() float64 { return float64(m.gatewaySent.Load()) })
	gauge("gateway_requests_in_flight", "Gateway requests being answered.", func() float64 { return float64(m.gatewayReqs.Load()) })
	registerOffload(reg, n.Offload)
	return m
}

// registerOffload registers the offload server's gauges, and its refusals
// by the limit they reached (the label limit).
func registerOffload(reg *prometheus.Registry, s *offload.Server) {
	stat := func(f func(offload.Stats) float64) func() float64 {
		return func() float64 { return f(s.Stats()) }
	}
	for name, g := range map[string]struct {
		help string
		f    func(offload.Stats) float64
	}{
		"offload_streams":           {"Offload streams open, sessions included.", func(st offload.Stats) float64 { return float64(st.Streams) }},
		"offload_sessions":          {"Open offload sessions.", func(st offload.Stats) float64 { return float64(st.Sessions) }},
		"offload_kv_reserved_bytes": {"KV cache bytes the offload sessions reserved.", func(st offload.Stats) float64 { return float64(st.KVBytes) }},
		"offload_in_flight_bytes":   {"Bytes of offload requests being read or answered.", func(st offload.Stats) float64 { return float64(st.InFlight) }},
	} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "accel", Name: name, Help: g.help}, stat(g.f)))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "accel", Name: "offload_sessions_opened_total",
		Help: "Offload sessions opened for peers."}, stat(func(st offload.Stats) float64 { return float64(st.Opened) })))
	for limit := range s.Stats().Refused {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "accel", Name: "offload_refusals_total", Help: "Offload streams and requests refused, by the limit they reached.",
			ConstLabels: prometheus.Labels{"limit": limit},
		}, stat(func(st offload.Stats) float64 { return float64(st.Refused[limit]) })))
	}
}

// traffic returns the bytes n received and sent since it started: block
// exchange (bitswap and the bulk transfer protocol) and gateway responses.
func (m *metrics) traffic(n *Node) (in, out uint64) {
	if st, err := n.Bitswap.Stat(); err == nil {
		in, out = st.DataReceived, st.DataSent
	}
	return in + m.transferIn.Load(), out + n.Transfer.Stats().BytesServed + m.gatewaySent.Load()
}

// receivedBlock counts a block received over the bulk transfer protocol
// (a transfer.OnBlock callback).
func (m *metrics) receivedBlock(_ cid.Cid, size int) { m.transferIn.Add(uint64(size)) }

// countGateway wraps the gateway's handler, counting the requests in
// flight and the response bytes.
func (m *metrics) countGateway(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.gatewayReqs.Add(1)
		defer m.gatewayReqs.Add(-1)
		h.ServeHTTP(httpsnoop.Wrap(w, httpsnoop.Hooks{
			Write: func(write httpsnoop.WriteFunc) httpsnoop.WriteFunc {
				return func(b []byte) (int, error) {
					k, err := write(b)
					m.gatewaySent.Add(uint64(k))
					return k, err
				}
			},
			ReadFrom: func(readFrom httpsnoop.ReadFromFunc) httpsnoop.ReadFromFunc {
				return func(src io.Reader) (int64, error) {
					k, err := readFrom(src)
					m.gatewaySent.Add(uint64(k))
					return k, err
				}
			},
		}), r)
	})
}

// bitswapStat is the part of bitswap's Stat the metrics report.
type bitswapStat struct{ blocksIn, bytesIn, blocksOut, bytesOut uint64 }

// Metrics is the registry /metrics serves, for other services to add to.
func (n *Node) Metrics() prometheus.Registerer { return n.metrics.reg }

// MetricsHandler serves the metrics in Prometheus' text format.
func (n *Node) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{})
}
