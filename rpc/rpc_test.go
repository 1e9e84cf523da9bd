package rpc

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

const models = "../../shared/models"

// serve runs the RPC API of an offline node over a fresh test repo.
func serve(t *testing.T, token string) (*node.Node, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	if _, err := node.Init(dir, node.ProfileTest); err != nil {
		t.Fatal(err)
	}
	r, err := node.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	n := node.Offline(r)
	t.Cleanup(func() { n.Close() })
	srv := httptest.NewServer(Protect(token, NewHandler(n, t.TempDir())))
	t.Cleanup(srv.Close)
	return n, srv
}

// client returns a Client for srv with token.
func client(t *testing.T, srv *httptest.Server, token string) *Client {
	t.Helper()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	c, err := NewClient("/ip4/"+host+"/tcp/"+port, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenAndOrigin(t *testing.T) {
	_, srv := serve(t, "s3cret")
	ctx := context.Background()
	if _, err := client(t, srv, "").ID(ctx); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("no token: %v", err)
	}
	if _, err := client(t, srv, "wrong").ID(ctx); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := client(t, srv, "s3cret").ID(ctx); err != nil {
		t.Fatalf("right token: %v", err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v0/id", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Origin", "http://127.0.0.1:1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request from a page: %s", resp.Status)
	}
	// Without a token, only loopback host names are answered.
	_, open := serve(t, "")
	req, _ = http.NewRequest("POST", open.URL+"/api/v0/id", nil)
	req.Host = "rebound.example:80"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request for a rebound name: %s", resp.Status)
	}
}

// The client gives the same answers as the node it talks to.
func TestClientMatchesNode(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		t.Skipf("test models not present: %v", err)
	}
	n, srv := serve(t, "")
	c := client(t, srv, "")
	ctx := context.Background()
	var last int64
	root, err := c.AddModel(ctx, loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")},
		node.AddOptions{ChunkSize: loader.MinChunkSize}, func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if last == 0 {
		t.Error("add reported no progress")
	}
	pins, err := c.Pins(ctx)
	if err != nil || len(pins) != 1 || pins[0].CID != root || pins[0].Name != "stories260K.bin" {
		t.Fatalf("pins %+v %v", pins, err)
	}
	st, err := c.Stat(ctx, root)
	want, _ := n.Stat(ctx, root)
	if err != nil || st.Size != want.Size || len(st.Components) != len(want.Components) || st.RemoteBlocks != 0 {
		t.Fatalf("stat %+v %v", st, err)
	}
	var viaRPC, direct bytes.Buffer
	if err := c.ExportCAR(ctx, root, &viaRPC); err != nil {
		t.Fatal(err)
	}
	if err := n.ExportCAR(ctx, root, &direct); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(viaRPC.Bytes(), direct.Bytes()) {
		t.Fatal("exported CARs differ")
	}
	if _, err := c.SwarmPeers(ctx); err == nil || !strings.Contains(err.Error(), "accel daemon") {
		t.Fatalf("swarm on an offline node: %v", err)
	}
	if err := c.Unpin(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := c.Unpin(ctx, root); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("second unpin: %v", err)
	}
	res, err := c.GC(ctx)
	if err != nil || res.Blocks == 0 {
		t.Fatalf("gc %+v %v", res, err)
	}
}

// A client on the daemon's machine has it read the model in place; where
// the daemon cannot read the path (in a container, say) the client uploads
// the files instead, with the same root CID; a relative path, or one from
// another machine, is refused.
func TestAddInPlace(t *testing.T) {
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		t.Skipf("test models not present: %v", err)
	}
	n, srv := serve(t, "")
	src := loader.Source{Path: filepath.Join(models, "stories260K.bin"), Tokenizer: filepath.Join(models, "tok512.bin")}
	ctx := context.Background()
	inPlace, err := client(t, srv, "").AddModel(ctx, src, node.AddOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A daemon that sees another filesystem: its paths do not exist.
	var byPath, uploads int
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("path") {
			byPath++
			q.Set("path", "/nonexistent"+q.Get("path"))
			r.URL.RawQuery = q.Encode()
		} else if strings.HasSuffix(r.URL.Path, "/add") {
			uploads++
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer elsewhere.Close()
	uploaded, err := client(t, elsewhere, "").AddModel(ctx, src, node.AddOptions{}, nil)
	if err != nil || uploaded != inPlace || byPath != 1 || uploads != 1 {
		t.Fatalf("add through a daemon that cannot read the path: %v, %v (in place: %v); %d by path, %d uploads", uploaded, err, inPlace, byPath, uploads)
	}

	for _, c := range []struct {
		name, remote, path string
		status             int
	}{
		{"relative path", "127.0.0.1:1234", "models/x.gguf", http.StatusBadRequest},
		{"missing file", "127.0.0.1:1234", "/nonexistent/x.gguf", http.StatusUnprocessableEntity},
		{"another machine", "192.0.2.7:1234", "/nonexistent/x.gguf", http.StatusBadRequest},
	} {
		req := httptest.NewRequest(http.MethodPost, Prefix+"add?path="+c.path, nil)
		req.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		NewHandler(n, t.TempDir()).ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.status)
		}
	}
}
