package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the node's Prometheus registry: peers, hot-cache hits and
// misses, bitswap and bulk-transfer traffic, and the Go runtime. Values
// are read when scraped.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics(n *Node) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "accel", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "accel", Name: name, Help: help}, f))
	}
	gauge("peers", "Connected peers.", func() float64 { return float64(len(n.Host.Network().Peers())) })
	counter("cache_hits_total", "Block reads answered by the hot cache.", func() float64 { return float64(n.Cache.Stats().Hits) })
	counter("cache_misses_total", "Block reads that went to disk.", func() float64 { return float64(n.Cache.Stats().Misses) })
	gauge("cache_bytes", "Bytes of blocks in the hot cache.", func() float64 { return float64(n.Cache.Stats().Bytes) })
	gauge("cache_max_bytes", "Budget of the hot cache.", func() float64 { return float64(n.Cache.Stats().MaxBytes) })
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
	return &metrics{reg: reg}
}

// bitswapStat is the part of bitswap's Stat the metrics report.
type bitswapStat struct{ blocksIn, bytesIn, blocksOut, bytesOut uint64 }

// MetricsHandler serves the metrics in Prometheus' text format.
func (n *Node) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{})
}
