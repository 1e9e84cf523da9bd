package rpc

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReceive feeds add's upload parser arbitrary tar streams: it must
// return a source or an error, never panic or write outside its directory.
func FuzzReceive(f *testing.F) {
	entries := func(names ...string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, n := range names {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: 2, Mode: 0o600})
			tw.Write([]byte("{}"))
		}
		tw.Close()
		return b.Bytes()
	}
	f.Add(entries("model/dir/config.json", "model/dir/model.safetensors", "tokenizer/tok.bin"))
	f.Add(entries("model/m.gguf"))
	f.Add(entries("model/../../etc/x"))
	f.Add(entries("other/a"))
	f.Add(entries("model/a", "model/b"))
	f.Add(entries())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		src, err := receive(bytes.NewReader(body), dir)
		if err != nil {
			return
		}
		for _, p := range []string{src.Path, src.Tokenizer} {
			if p != "" && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("upload escaped its directory: %q", p)
			}
		}
	})
}

// FuzzEvents feeds the client's stream decoder arbitrary answers.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(`{"Progress":{"Bytes":1,"Total":2}}` + "\n" + `{"Result":"bafkqaaa"}` + "\n"))
	f.Add([]byte(`{"Error":"boom"}` + "\n"))
	f.Add([]byte(`{"Progress":1}`))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := &http.Response{Body: io.NopCloser(bytes.NewReader(body))}
		var out any
		(&Client{}).events(resp, func(json.RawMessage) {}, &out) //nolint:errcheck // any answer but a panic is fine
	})
}
