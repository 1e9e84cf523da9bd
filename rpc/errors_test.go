package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/node"
)

// absent is the CID of a manifest no test repo holds.
const absent = "bafyreihqthe7ww646rnebq7r6gkqflfwhvj6dhjr5uxnqsueurlsvrcwai"

// An error answers with the status of its kind — 400 for a bad argument,
// 404 for what is not there — and in Kubo's shape, streamed commands
// included.
func TestErrorStatuses(t *testing.T) {
	_, srv := serve(t, "")
	for _, tc := range []struct {
		cmd, body string
		status    int
		msg       string
	}{
		{"block/get?arg=" + absent, "", 404, "not in the local repo"},
		{"block/get?arg=notacid", "", 400, "invalid CID"},
		{"export?arg=" + absent, "", 404, "not in the local repo"},
		{"get?arg=" + absent, "", 404, "not in the local repo"},
		{"pin/rm?arg=" + absent, "", 404, "not pinned"},
		{"stat?arg=" + absent, "", 404, "not in the local repo"},
		{"import", "garbage", 400, "car: header: not a CAR"},
	} {
		resp, err := http.Post(srv.URL+Prefix+tc.cmd, "", strings.NewReader(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		var e errorBody
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || e.Type != "error" || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: %s %+v (%v), want %d with %q", tc.cmd, resp.Status, e, err, tc.status, tc.msg)
		}
	}
}

// The client's errors are the node's: the same text, of the same kind.
func TestClientErrorsMatchNode(t *testing.T) {
	n, srv := serve(t, "")
	c := client(t, srv, "")
	ctx := context.Background()
	root := cid.MustParse(absent)
	for name, call := range map[string]func(node.API) error{
		"block":  func(api node.API) error { _, err := api.Block(ctx, root); return err },
		"export": func(api node.API) error { return api.ExportCAR(ctx, root, io.Discard) },
		"get":    func(api node.API) error { return api.WriteGGUF(ctx, root, io.Discard) },
		"unpin":  func(api node.API) error { return api.Unpin(ctx, root) },
		"stat":   func(api node.API) error { _, err := api.Stat(ctx, root); return err },
		"import": func(api node.API) error { _, err := api.ImportCAR(ctx, strings.NewReader("garbage")); return err },
	} {
		want, got := call(n), call(c)
		if want == nil || got == nil || got.Error() != want.Error() || kind(got) != kind(want) || kind(want) == nil {
			t.Errorf("%s: the client says %q (%v), the node %q (%v)", name, got, kind(got), want, kind(want))
		}
	}
}

// kind is err's node error kind, nil for none.
func kind(err error) error {
	for _, k := range []error{node.ErrInvalid, node.ErrNotFound} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
