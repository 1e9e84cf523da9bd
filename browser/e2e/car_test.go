package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/inference/generate"
	"github.com/ipfs-accelerate/accel/inference/llama"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
	"github.com/ipfs-accelerate/accel/loader"
)

// A gateway serves the CAR of a component with one leaf corrupt in the
// middle: the page rejects exactly that block, naming the gateway, gets it
// from the next gateway, takes the CAR's other blocks, and generates the
// native engine's greedy text for the same file. Nothing bad was cached: a
// reload makes no request and generates the same text.
func TestBrowserRejectsCorruptBlockInCAR(t *testing.T) {
	t.Setenv(browser.EnvSDKDir, buildSDK(t))
	ctx := newBrowser(t)
	// A small synthetic model, 256 KiB leaves: each layer's file is several.
	file := filepath.Join(t.TempDir(), "small.gguf")
	daemontest.New(t, "accel", accel, "ACCEL_PATH", t.TempDir()).Run("synth", "-o", file, "--type", "Q8_0",
		"--dim", "256", "--ffn", "768", "--layers", "2", "--heads", "4", "--kv-heads", "4", "--vocab", "512", "--context", "256")
	d := startDaemon(t, newRepo(t))
	root := strings.TrimSpace(d.Run("add", "-q", "--chunk-size", "262144", file))

	component, leaf := middleLeaf(t, d.Gateway, root)
	bad := corruptingGateway(t, d.Gateway, component, leaf)
	gateways, _ := json.Marshal(map[string]any{"gateway": []string{bad, d.Gateway}, "transports": []string{"gateway"}})
	res := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, string(gateways))

	const prompt = "Once upon a time"
	if want := prompt + nativeText(t, file, prompt, 64); res.Text != want {
		t.Errorf("the page generated %q, the native engine %q", res.Text, want)
	}
	rejected := res.Info.Rejected
	if len(rejected) != 1 || rejected[0].CID != leaf.String() || !strings.HasPrefix(rejected[0].Source, bad) {
		t.Errorf("rejected %+v, want only leaf %s from %s", rejected, leaf, bad)
	}
	if len(res.Info.Dropped) != 1 || !strings.HasPrefix(res.Info.Dropped[0], bad) || res.Info.Sources[d.Gateway+"/"] == 0 {
		t.Errorf("dropped %v, requests by source %v: want %s dropped for %s", res.Info.Dropped, res.Info.Sources, bad, d.Gateway)
	}
	again := runPage(t, ctx, d.Gateway+"/sdk/test.html", root, string(gateways))
	if again.Info.Requests != 0 || again.Text != res.Text {
		t.Errorf("reload: %d network requests, text %q", again.Info.Requests, again.Text)
	}
}

// middleLeaf returns the root of the first component of the model at root
// whose file is three leaves or more, and its middle leaf.
func middleLeaf(t *testing.T, gateway, root string) (cid.Cid, cid.Cid) {
	t.Helper()
	m, err := loader.DecodeManifest(rawBlock(t, gateway, cid.MustParse(root)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Components {
		if c.CID.Type() != cid.DagProtobuf {
			continue
		}
		nd, err := merkledag.DecodeProtobuf(rawBlock(t, gateway, c.CID))
		if err != nil {
			t.Fatal(err)
		}
		if links := nd.Links(); len(links) >= 3 && links[len(links)/2].Cid.Type() == cid.Raw {
			return c.CID, links[len(links)/2].Cid
		}
	}
	t.Fatal("no component of three leaves or more")
	return cid.Undef, cid.Undef
}

// rawBlock GETs block c from a trustless gateway.
func rawBlock(t *testing.T, gateway string, c cid.Cid) []byte {
	t.Helper()
	resp, err := http.Get(gateway + "/ipfs/" + c.String() + "?format=raw")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET block %s: %v %s", c, err, resp.Status)
	}
	return data
}

// corruptingGateway is a reverse proxy to gateway that flips a byte of
// block leaf in the CAR of component (its CID unchanged) and passes every
// other answer on; it returns its URL.
func corruptingGateway(t *testing.T, gateway string, component, leaf cid.Cid) string {
	t.Helper()
	target, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Header.Set("Cache-Control", "no-store")
		if r.Request.URL.Path != "/ipfs/"+component.String() || r.Request.URL.Query().Get("format") != "car" {
			return nil
		}
		car, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		if !flipInCAR(car, leaf) {
			t.Errorf("block %s is not in the CAR of %s", leaf, component)
		}
		r.Body = io.NopCloser(bytes.NewReader(car))
		r.ContentLength = int64(len(car))
		r.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// flipInCAR flips a byte in the middle of block c's bytes in a CARv1 and
// reports whether it found c.
func flipInCAR(car []byte, c cid.Cid) bool {
	n, k := binary.Uvarint(car)
	at := k + int(n) // past the header
	for at < len(car) {
		n, k := binary.Uvarint(car[at:])
		section := car[at+k : at+k+int(n)]
		at += k + int(n)
		cl, got, err := cid.CidFromBytes(section)
		if err != nil {
			return false
		}
		if got.Equals(c) {
			section[cl+(len(section)-cl)/2] ^= 1
			return true
		}
	}
	return false
}

// nativeText is the native engine's greedy continuation of prompt, tokens
// tokens at most, with the model in file (as a JS string holds it).
func nativeText(t *testing.T, file, prompt string, tokens int) string {
	t.Helper()
	m, err := llama.Open(file, llama.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var text strings.Builder
	opts := generate.Options{MaxTokens: tokens}
	opts.Sample.Temperature = 0
	if _, err := generate.Run(ctx, m, prompt, opts, func(piece string) error {
		text.WriteString(strings.ToValidUTF8(piece, "\uFFFD"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return text.String()
}
