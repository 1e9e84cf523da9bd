package interop

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// Benchmark sizes: runs of each transfer and add (medians are quoted),
// and cold blocks fetched through each gateway and each RPC API, one at a
// time with a pause in between, so that each finds the daemons idle.
const (
	benchRuns    = 3
	latencyRuns  = 15
	latencyPause = 20 * time.Millisecond
)

// BenchmarkTransferVsKubo measures, in one run and side by side, accel
// against Kubo on a ≈500 MiB synthetic model, for 1 MiB and 256 KiB
// chunks: add throughput on a serving daemon, transfer throughput (pin
// add) to a new daemon connected to it, the latency of one cold block
// through the new daemon's gateway, and both daemons' peak RSS during the
// transfers. Beside the transfers it prints two ceilings, estimates of
// what a transfer between libp2p nodes on this machine can reach: libp2p
// alone streaming the blocks from memory and verifying them, and the disk
// alone storing them durably (in the accel column, with their ratio to
// Kubo's transfer). It runs once whatever b.N:
//
//	go test ./interop/ -run '^$' -bench TransferVsKubo -benchtime 1x
func BenchmarkTransferVsKubo(b *testing.B) {
	needKubo(b)
	file := synthModel(b)
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	a, k := startAccel(b), startKubo(b)

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s (%.0f MiB), medians of %d\t%8s\t%8s\t%s\n", filepath.Base(file), float64(fi.Size())/(1<<20), benchRuns, "accel", "kubo", "accel better by")
	for _, chunk := range []int{1 << 20, 256 << 10} {
		ours := measure(b, a, startAccel, file, chunk)
		theirs := measure(b, k, startKubo, file, chunk)
		blks := fileBlocks(b, file, chunk)
		disk, network := durableStore(b, blks), streamAndVerify(b, blks)
		mbps := func(d time.Duration) float64 { return float64(fi.Size()) / 1e6 / d.Seconds() }
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		fmt.Fprintf(tw, "chunk %d KiB\t\t\t\n", chunk>>10)
		row(tw, "add (MB/s)", mbps(ours.add), mbps(theirs.add), true)
		row(tw, "transfer, pin add (MB/s)", mbps(ours.transfer), mbps(theirs.transfer), true)
		row(tw, "  ceiling: libp2p alone streaming and verifying it (MB/s)", mbps(network), mbps(theirs.transfer), true)
		row(tw, "  ceiling: the disk alone storing it durably (MB/s)", mbps(disk), mbps(theirs.transfer), true)
		row(tw, fmt.Sprintf("cold %d KiB block via RPC block/get (ms)", chunk>>10), ms(ours.rpcBlock), ms(theirs.rpcBlock), false)
		row(tw, fmt.Sprintf("cold %d KiB block via gateway (ms)", chunk>>10), ms(ours.block), ms(theirs.block), false)
		row(tw, "peak RSS of the server (MiB)", mib(ours.serverRSS), mib(theirs.serverRSS), false)
		row(tw, "peak RSS of the fetcher (MiB)", mib(ours.fetcherRSS), mib(theirs.fetcherRSS), false)
		if chunk == 1<<20 {
			b.ReportMetric(mbps(ours.transfer), "accel-MB/s")
			b.ReportMetric(mbps(theirs.transfer), "kubo-MB/s")
		}
	}
	tw.Flush()
}

// row prints one measurement of both systems and accel's advantage:
// ours/theirs when more is better, theirs/ours when less is.
func row(w io.Writer, name string, ours, theirs float64, moreIsBetter bool) {
	adv := theirs / ours
	if moreIsBetter {
		adv = ours / theirs
	}
	fmt.Fprintf(w, "  %s\t%8.1f\t%8.1f\t%6.2f×\n", name, ours, theirs, adv)
}

// result is what measure finds for one system and chunk size: medians of
// the timings, and peak RSS during the transfers.
type result struct {
	add, transfer, block, rpcBlock time.Duration
	serverRSS, fetcherRSS          int64
}

// measure adds file on src (a few times, dropping it in between), then
// has new daemons made by start fetch single cold blocks through their
// gateways (the first one) and the whole DAG, and leaves src without it.
// Each transfer goes to a new daemon: Kubo's pin add, run again after
// pin rm and repo gc on the same daemon, sometimes stalls for minutes.
func measure(tb testing.TB, src *node, start func(testing.TB) *node, file string, chunk int) result {
	tb.Helper()
	var r result
	var root string
	var adds, transfers, blocks []time.Duration
	for i := range benchRuns {
		t0 := time.Now()
		root = src.addFile(file, chunk)
		adds = append(adds, time.Since(t0))
		progress("%s add, %d KiB chunks: %v", src.Name, chunk>>10, adds[i])
		if i < benchRuns-1 {
			src.drop(root)
		}
	}
	r.add = median(adds)

	client := &http.Client{Timeout: time.Minute}
	leaves := src.leaves(client, root, chunk, 2*latencyRuns)
	if err := daemontest.ResetPeakRSS(src.Pid()); err != nil {
		tb.Logf("cannot reset the peak RSS of %s: %v", src.Name, err)
	}
	for i := range benchRuns {
		dst := start(tb)
		dst.connect(src)
		if i == 0 {
			var viaRPC []time.Duration
			for j, c := range leaves {
				if j%2 == 0 {
					blocks = append(blocks, getBlock(tb, client, dst.gateway+"/ipfs/"+c+"?format=raw", http.MethodGet, chunk))
				} else {
					viaRPC = append(viaRPC, getBlock(tb, client, dst.apiURL()+"/api/v0/block/get?arg="+c, http.MethodPost, chunk))
				}
			}
			r.block, r.rpcBlock = median(blocks), median(viaRPC)
			progress("%s cold %d KiB blocks through the gateway: %v; through RPC block/get: %v", dst.Name, chunk>>10, blocks, viaRPC)
		}
		t0 := time.Now()
		dst.fetch(root)
		transfers = append(transfers, time.Since(t0))
		progress("%s pin add, %d KiB chunks: %v", dst.Name, chunk>>10, transfers[i])
		r.fetcherRSS = max(r.fetcherRSS, dst.peakRSS())
		dst.Stop()
		os.RemoveAll(dst.Dir)
	}
	r.transfer = median(transfers)
	r.serverRSS = src.peakRSS()
	src.drop(root)
	return r
}

// addFile adds file with the given chunk size and returns its root CID:
// Kubo adds it as one UnixFS file, accel as a model (a manifest over one
// UnixFS file per component).
func (n *node) addFile(file string, chunk int) string {
	n.TB.Helper()
	if n.Name == "kubo" {
		return strings.TrimSpace(n.Run("add", "-Q", "--pin", "--cid-version=1", "--raw-leaves", "--chunker=size-"+strconv.Itoa(chunk), file))
	}
	return strings.TrimSpace(n.Run("add", "-q", "--chunk-size", strconv.Itoa(chunk), file))
}

// fetch pins root, fetching its blocks from the connected peers.
func (n *node) fetch(root string) {
	n.TB.Helper()
	if n.Name == "kubo" {
		n.Run("pin", "add", "--progress=false", root)
		return
	}
	n.Run("pin", "add", root)
}

// drop unpins root and deletes every unpinned block.
func (n *node) drop(root string) {
	n.TB.Helper()
	n.Run("pin", "rm", root)
	n.gc()
}

// gc deletes every unpinned block.
func (n *node) gc() {
	n.TB.Helper()
	if n.Name == "kubo" {
		n.Run("repo", "gc", "-q")
		return
	}
	n.Run("gc")
}

func (n *node) peakRSS() int64 {
	n.TB.Helper()
	rss, err := daemontest.PeakRSS(n.Pid())
	if err != nil {
		n.TB.Logf("peak RSS of %s: %v", n.Name, err)
	}
	return rss
}

// leaves finds count raw leaf blocks of chunk bytes under root, read
// through the node's own gateway: under the components of an accel model,
// under the file itself for Kubo.
func (n *node) leaves(client *http.Client, root string, chunk, count int) []string {
	n.TB.Helper()
	todo := []string{root}
	if n.Name == "accel" {
		todo = todo[:0]
		for _, c := range n.stat(root).Components {
			todo = append(todo, c.CID)
		}
	}
	var found []string
	for len(todo) > 0 && len(found) < count {
		c := cid.MustParse(todo[0])
		todo = todo[1:]
		if c.Prefix().Codec != cid.DagProtobuf {
			continue
		}
		nd, err := merkledag.DecodeProtobuf(getRaw(n.TB, client, n.gateway, c.String()))
		if err != nil {
			n.TB.Fatalf("%s: %v", c, err)
		}
		for _, l := range nd.Links() {
			switch {
			case l.Cid.Prefix().Codec == cid.DagProtobuf:
				todo = append(todo, l.Cid.String())
			case l.Size == uint64(chunk) && len(found) < count:
				found = append(found, l.Cid.String())
			}
		}
	}
	if len(found) < count {
		n.TB.Fatalf("found %d leaves of %d bytes under %s, want %d", len(found), chunk, root, count)
	}
	return found
}

// getRaw fetches one block from a gateway.
func getRaw(tb testing.TB, client *http.Client, gateway, c string) []byte {
	tb.Helper()
	return fetchURL(tb, client, gateway+"/ipfs/"+c+"?format=raw", http.MethodGet)
}

// fetchURL returns the body of a request that must succeed.
func fetchURL(tb testing.TB, client *http.Client, url, method string) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s %s: %s\n%s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	return b
}

// getBlock times the fetch of one block of size bytes from url, after a
// pause.
func getBlock(tb testing.TB, client *http.Client, url, method string, size int) time.Duration {
	tb.Helper()
	time.Sleep(latencyPause)
	start := time.Now()
	b := fetchURL(tb, client, url, method)
	d := time.Since(start)
	if len(b) != size {
		tb.Fatalf("%s: %d bytes, want %d", url, len(b), size)
	}
	return d
}

// apiURL is the http:// address of the daemon's RPC API, from its api file.
func (n *node) apiURL() string {
	n.TB.Helper()
	parts := strings.Split(n.WaitFile("api"), "/")
	if len(parts) != 5 || parts[1] != "ip4" || parts[3] != "tcp" {
		n.TB.Fatalf("%s api file holds %q", n.Name, strings.Join(parts, "/"))
	}
	return "http://" + parts[2] + ":" + parts[4]
}

// progress prints one measurement as the benchmark goes (b.Log keeps
// only a benchmark's first 10 lines).
func progress(format string, args ...any) {
	fmt.Printf("# "+format+"\n", args...)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// synthModel returns a ≈500 MiB Llama-shaped GGUF with random F16 weights
// (the default synth shape with 3 layers), made once and kept in the
// temp dir across runs.
func synthModel(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(os.TempDir(), "accel-interop-f16-3layers.gguf")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	n := &node{Daemon: &daemontest.Daemon{TB: tb, Name: "accel", Bin: accelBin, Env: os.Environ()}}
	n.Run("synth", "-o", path, "--type", "F16", "--layers", "3")
	return path
}
