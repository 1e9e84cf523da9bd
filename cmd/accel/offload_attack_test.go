package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/internal/p2ptest"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/loader/dagstore"
	"github.com/ipfs-accelerate/accel/offload"
	"github.com/ipfs-accelerate/accel/proto/offloadwire"
)

// Hostile peers against a daemon's offload server, over libp2p on
// 127.0.0.1: streams that announce frames they never send, silent streams,
// and peers that take every session or the whole KV budget. A well-behaved
// peer must still be served, and the daemon's memory must stay bounded.

// offloadTarget is a daemon holding stories260K, the same model loaded in
// this process, and libp2p peers of the test.
type offloadTarget struct {
	d     *daemontest.Accel
	id    peer.ID
	addr  peer.AddrInfo
	root  cid.Cid
	model *llama.Model // the same weights, run here
}

// newOffloadTarget starts a daemon with stories260K, after edit changes
// its config's Offload section (nil: as accel init wrote it).
func newOffloadTarget(t *testing.T, edit func(map[string]any)) *offloadTarget {
	t.Helper()
	needModels(t)
	repo := newRepo(t)
	root := addStories(t, repo)
	if edit != nil {
		setConfig(t, repo, func(c map[string]any) {
			o, _ := c["Offload"].(map[string]any)
			if o == nil {
				o = map[string]any{}
			}
			edit(o)
			c["Offload"] = o
		})
	}
	d := startDaemon(t, repo)
	addr, err := peer.AddrInfoFromString(d.Addr("/tcp/"))
	if err != nil {
		t.Fatal(err)
	}
	o := &offloadTarget{d: d, id: addr.ID, addr: *addr}
	o.root, o.model = storiesHere(t)
	if o.root.String() != root {
		t.Fatalf("stories260K imported here is %s, the daemon's is %s", o.root, root)
	}
	return o
}

// storiesHere imports stories260K into memory as accel add does.
func storiesHere(t *testing.T) (cid.Cid, *llama.Model) {
	t.Helper()
	ctx := t.Context()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	src := loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")}
	root, _, err := loader.Import(ctx, src, loader.ImportOptions{}, dagstore.New(bs))
	if err != nil {
		t.Fatal(err)
	}
	dag, err := loader.Open(ctx, root, bs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dag.LlamaModel(ctx, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return root, m
}

// peer starts a libp2p host connected to the daemon.
func (o *offloadTarget) peer(t *testing.T) host.Host {
	t.Helper()
	h := p2ptest.NewHost(t)
	if err := h.Connect(t.Context(), o.addr); err != nil {
		t.Fatal(err)
	}
	return h
}

// dial opens a session from h on layers [from, to) for contextLen
// positions.
func (o *offloadTarget) dial(t *testing.T, h host.Host, from, to, contextLen int) (*offload.Client, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := offload.Dial(ctx, h, o.id, o.root, from, to, contextLen)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// generate runs layers 1… of the model on the daemon for six positions, in
// two Forwards, and checks the hidden states against the same layers run
// here.
func (o *offloadTarget) generate(t *testing.T, h host.Host) {
	t.Helper()
	layers, dim := o.model.Layers, o.model.Dim
	c, err := o.dial(t, h, 1, layers, 0)
	if err != nil {
		t.Fatalf("a well-behaved peer's session: %v", err)
	}
	local := o.model.NewSession(llama.SessionOptions{})
	states := make([]float32, 6*dim)
	for i := range states {
		states[i] = float32(math.Sin(float64(i) * 0.37))
	}
	for _, span := range [][2]int{{0, 4}, {4, 6}} {
		want := slices.Clone(states[span[0]*dim : span[1]*dim])
		if err := local.RunLayers(1, layers, span[0], want); err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(states[span[0]*dim : span[1]*dim])
		if err := c.Forward(span[0], got); err != nil {
			t.Fatalf("a well-behaved peer's Forward at %d: %v", span[0], err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("positions %d…%d: the daemon's hidden states differ from the local run", span[0], span[1]-1)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// stream opens an offload stream from h; the test resets it at its end.
func (o *offloadTarget) stream(t *testing.T, h host.Host) network.Stream {
	t.Helper()
	st, err := h.NewStream(t.Context(), o.id, offloadwire.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Reset() })
	return st
}

// frameOf is m as a frame.
func frameOf(t *testing.T, m offloadwire.Message) []byte {
	t.Helper()
	body, err := offloadwire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// stallFrame announces a frame of the largest size and sends 3 MiB of it:
// enough that a server holding the announced size for each stream runs out
// of memory, little enough to cross loopback quickly.
var stallFrame = append(binary.AppendUvarint(nil, offloadwire.MaxFrameSize), make([]byte, 3<<20)...)

// Three peers each open 75 streams that announce 16 MiB frames and stall,
// some of them inside sessions: the daemon's memory stays bounded, and
// another peer's session gives the right answers meanwhile.
func TestOffloadSurvivesAnnouncedFrames(t *testing.T) {
	o := newOffloadTarget(t, nil)
	pid := o.d.Pid()
	if err := daemontest.ResetPeakRSS(pid); err != nil {
		t.Fatal(err)
	}
	open := frameOf(t, offloadwire.Open{Root: o.root, From: 0, To: o.model.Layers})
	var wg sync.WaitGroup
	for range 3 {
		h := o.peer(t)
		for i := range 75 {
			st := o.stream(t, h)
			wg.Go(func() {
				_ = st.SetDeadline(time.Now().Add(5 * time.Second))
				if i < 4 { // a session first, then the frame inside it
					if _, err := st.Write(open); err == nil {
						_, _ = offloadwire.ReadFrame(bufio.NewReader(st))
					}
				}
				_, _ = st.Write(stallFrame) // refused streams block, then time out
			})
		}
	}
	wg.Wait()
	o.generate(t, o.peer(t))
	peak, err := daemontest.PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the daemon's peak RSS: %d MiB", peak>>20)
	if peak > 400<<20 {
		t.Fatalf("the daemon's RSS reached %d MiB under the attack (limit 400 MiB)", peak>>20)
	}
}

// One peer opens silent streams, another takes as much KV cache as it may,
// a third as many sessions as it may: a fourth still opens a session, the
// refusals name the limits, the silent streams are closed within seconds,
// and /metrics counts it all.
func TestOffloadPerPeerLimits(t *testing.T) {
	// One session of all five layers and 4096 positions reserves 5 MiB.
	o := newOffloadTarget(t, func(c map[string]any) {
		c["MaxKVBytes"] = 20 << 20
		c["MaxKVBytesPerPeer"] = 10 << 20
	})
	layers := o.model.Layers

	silent := o.peer(t)
	var quiet []network.Stream
	for range 16 {
		st := o.stream(t, silent)
		_, _ = st.Write([]byte{5}) // a frame of 5 bytes, never sent
		quiet = append(quiet, st)
	}
	time.Sleep(500 * time.Millisecond) // the daemon takes the streams in

	hog := o.peer(t)
	var kvErr error
	for i := 0; i < 6 && kvErr == nil; i++ {
		_, kvErr = o.dial(t, hog, 0, layers, 4096)
	}
	many := o.peer(t)
	var sessionErr error
	for i := 0; i < 6 && sessionErr == nil; i++ {
		_, sessionErr = o.dial(t, many, 0, 1, 64)
	}
	o.generate(t, o.peer(t))

	if kvErr == nil || !strings.Contains(kvErr.Error(), "10 MiB") {
		t.Errorf("the KV hog's refusal: %v; want one naming its 10 MiB share", kvErr)
	}
	if sessionErr == nil || !strings.Contains(sessionErr.Error(), "4 of its 4") {
		t.Errorf("the session hog's refusal: %v; want one naming its 4 sessions", sessionErr)
	}
	// The silent streams are closed well before the idle timeout.
	for i, st := range quiet {
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		var timeout net.Error
		if _, err := io.Copy(io.Discard, st); errors.As(err, &timeout) && timeout.Timeout() {
			t.Fatalf("silent stream %d still open after 10 s", i)
		}
	}

	metrics := httpGet(t, o.d.Gateway+"/metrics")
	for name, want := range map[string]float64{
		"accel_offload_sessions":                                  2 + 4,
		"accel_offload_kv_reserved_bytes":                         float64(2*5<<20 + 4*64*o.model.KVDim()*2*4),
		`accel_offload_refusals_total{limit="kv_bytes_per_peer"}`: 1,
		`accel_offload_refusals_total{limit="sessions_per_peer"}`: 1,
		`accel_offload_refusals_total{limit="streams_per_peer"}`:  8,
		`accel_offload_refusals_total{limit="first_request"}`:     8,
	} {
		if got := metric(t, metrics, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// metric is the value of the sample name (with its labels) in a Prometheus
// text exposition.
func metric(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in the metrics:\n%s", name, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
