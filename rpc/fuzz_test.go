package rpc

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// FuzzReceive feeds add's upload parser arbitrary multipart bodies: it
// must return a source or an error, never panic or write outside its
// directory.
func FuzzReceive(f *testing.F) {
	var good bytes.Buffer
	mw := multipart.NewWriter(&good)
	mw.SetBoundary("B")
	w, _ := mw.CreateFormFile("model", "dir/config.json")
	w.Write([]byte("{}"))
	w, _ = mw.CreateFormFile("tokenizer", "tok.bin")
	w.Write([]byte("tok"))
	mw.Close()
	f.Add(good.Bytes())
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"model\"; filename=\"../../etc/x\"\r\n\r\nx\r\n--B--\r\n"))
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"other\"; filename=\"a\"\r\n\r\nx\r\n--B--\r\n"))
	f.Add([]byte("--B--\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		src, err := receive(multipart.NewReader(bytes.NewReader(body), "B"), dir)
		if err != nil {
			return
		}
		for _, p := range []string{src.Path, src.Tokenizer} {
			if p != "" && !strings.HasPrefix(p, dir+"/") {
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
