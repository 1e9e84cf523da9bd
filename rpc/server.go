// Package rpc is the daemon's HTTP RPC API, shaped like Kubo's: POST
// /api/v0/<command>?arg=…, JSON answers, errors as {"Message", "Code",
// "Type": "error"} with a 4xx/5xx status. Long commands (add, pin add)
// stream newline-delimited JSON events — {"Progress": …} lines, then one
// {"Result": …} or {"Error": …} line. Client implements node.API over it,
// so the CLI runs the same code against a daemon or an offline repo.
package rpc

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

// Prefix is the path of every RPC command.
const Prefix = "/api/v0/"

// Limits on request bodies: model uploads are bounded only by the disk.
const maxUploadFiles = 64

// errorBody is Kubo's error shape.
type errorBody struct {
	Message string
	Code    int
	Type    string
}

// event is one line of a streamed answer.
type event struct {
	Progress json.RawMessage `json:",omitempty"`
	Result   json.RawMessage `json:",omitempty"`
	Error    string          `json:",omitempty"`
}

// badf is an error in the request itself: 400.
func badf(format string, args ...any) error { return node.Invalid(fmt.Errorf(format, args...)) }

// Handler serves api's commands under Prefix.
type Handler struct {
	api    node.API
	tmpDir string // where uploads wait while they are imported
	mux    *http.ServeMux
}

// NewHandler serves api. Uploads are staged under tmpDir.
func NewHandler(api node.API, tmpDir string) *Handler {
	h := &Handler{api: api, tmpDir: tmpDir, mux: http.NewServeMux()}
	for name, fn := range h.commands() {
		h.mux.HandleFunc(Prefix+name, func(w http.ResponseWriter, r *http.Request) {
			sw := &sentWriter{ResponseWriter: w}
			if err := fn(sw, r); err != nil && !sw.sent {
				writeError(w, err)
			}
			// After the status is out, a failure shows as a cut body or an
			// Error event; there is no second status to send.
		})
	}
	return h
}

// Protect guards next, what the API port serves besides inference, as
// node.RefuseAPI says, answering refusals in Kubo's error shape.
func Protect(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, err := node.RefuseAPI(token, r); err != nil {
			writeStatus(w, status, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodPost:
		writeStatus(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: RPC commands take POST", r.Method, r.URL.Path))
	case !strings.HasPrefix(r.URL.Path, Prefix):
		writeStatus(w, http.StatusNotFound, fmt.Errorf("%s: not an RPC command (they live under %s)", r.URL.Path, Prefix))
	default:
		if _, pattern := h.mux.Handler(r); pattern == "" {
			writeStatus(w, http.StatusNotFound, fmt.Errorf("unknown command %q", strings.TrimPrefix(r.URL.Path, Prefix)))
			return
		}
		h.mux.ServeHTTP(w, r)
	}
}

// commands maps command names to their handlers.
func (h *Handler) commands() map[string]func(http.ResponseWriter, *http.Request) error {
	a := h.api
	return map[string]func(http.ResponseWriter, *http.Request) error{
		"id":          answer(func(ctx context.Context, _ *http.Request) (any, error) { return a.ID(ctx) }),
		"swarm/peers": answer(func(ctx context.Context, _ *http.Request) (any, error) { return a.SwarmPeers(ctx) }),
		"swarm/addrs": answer(func(ctx context.Context, _ *http.Request) (any, error) { return a.SwarmAddrs(ctx) }),
		"swarm/connect": answer(func(ctx context.Context, r *http.Request) (any, error) {
			addr, err := arg(r, "multiaddr")
			if err != nil {
				return nil, err
			}
			return struct{}{}, a.SwarmConnect(ctx, addr)
		}),
		"swarm/disconnect": answer(func(ctx context.Context, r *http.Request) (any, error) {
			addr, err := arg(r, "multiaddr")
			if err != nil {
				return nil, err
			}
			return struct{}{}, a.SwarmDisconnect(ctx, addr)
		}),
		"pin/ls": answer(func(ctx context.Context, _ *http.Request) (any, error) { return a.Pins(ctx) }),
		"pin/rm": withCID(func(ctx context.Context, c cid.Cid, _ *http.Request) (any, error) { return struct{}{}, a.Unpin(ctx, c) }),
		"stat":   withCID(func(ctx context.Context, c cid.Cid, _ *http.Request) (any, error) { return a.Stat(ctx, c) }),
		"gc":     answer(func(ctx context.Context, _ *http.Request) (any, error) { return a.GC(ctx) }),
		"repo/stat": answer(func(ctx context.Context, _ *http.Request) (any, error) {
			return a.RepoStat(ctx)
		}),
		"repo/verify": answer(func(ctx context.Context, _ *http.Request) (any, error) {
			n, bad, err := a.Verify(ctx)
			return verifyResult{n, bad}, err
		}),
		"import": answer(func(ctx context.Context, r *http.Request) (any, error) { return a.ImportCAR(ctx, r.Body) }),
		"block/get": func(w http.ResponseWriter, r *http.Request) error {
			c, err := cidArg(r)
			if err != nil {
				return err
			}
			data, err := a.Block(r.Context(), c)
			if err != nil {
				return err
			}
			w.Header().Set("Content-Type", "application/vnd.ipld.raw")
			_, err = w.Write(data)
			return err
		},
		"export": stream("application/vnd.ipld.car", a.ExportCAR),
		"get":    stream("application/octet-stream", a.WriteGGUF),
		"pin/add": func(w http.ResponseWriter, r *http.Request) error {
			c, err := cidArg(r)
			if err != nil {
				return err
			}
			ev := newEvents(w)
			err = a.PinAdd(r.Context(), c, r.URL.Query().Get("name"), func(p node.Progress) { ev.progress(p) })
			return ev.finish(c, err)
		},
		"add": h.add,
	}
}

// verifyResult is repo/verify's answer.
type verifyResult struct {
	Checked int
	Corrupt []cid.Cid
}

// sentWriter remembers whether the status line went out.
type sentWriter struct {
	http.ResponseWriter
	sent bool
}

func (w *sentWriter) WriteHeader(code int) {
	w.sent = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *sentWriter) Write(p []byte) (int, error) {
	w.sent = true
	return w.ResponseWriter.Write(p)
}

func (w *sentWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// answer runs fn and writes its value as JSON.
func answer(fn func(context.Context, *http.Request) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := fn(r.Context(), r)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(v)
	}
}

// withCID is answer for commands that take one CID argument.
func withCID(fn func(context.Context, cid.Cid, *http.Request) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return answer(func(ctx context.Context, r *http.Request) (any, error) {
		c, err := cidArg(r)
		if err != nil {
			return nil, err
		}
		return fn(ctx, c, r)
	})
}

// stream answers with the bytes fn writes. An error before the first byte
// is an HTTP error; after it, the connection is cut, so the client sees a
// truncated body rather than a wrong one.
func stream(contentType string, fn func(context.Context, cid.Cid, io.Writer) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := cidArg(r)
		if err != nil {
			return err
		}
		cw := &countingWriter{w: w, contentType: contentType}
		err = fn(r.Context(), c, cw)
		if err != nil && cw.n > 0 {
			panic(http.ErrAbortHandler)
		}
		return err
	}
}

// countingWriter sets the content type before the first byte.
type countingWriter struct {
	w           http.ResponseWriter
	contentType string
	n           int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n == 0 {
		c.w.Header().Set("Content-Type", c.contentType)
		c.w.Header().Set("X-Content-Type-Options", "nosniff")
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// arg returns the ?arg= query parameter.
func arg(r *http.Request, what string) (string, error) {
	v := r.URL.Query().Get("arg")
	if v == "" {
		return "", badf("argument %q is required (?arg=)", what)
	}
	return v, nil
}

func cidArg(r *http.Request) (cid.Cid, error) {
	s, err := arg(r, "cid")
	if err != nil {
		return cid.Undef, err
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, badf("invalid CID %q: %v", s, err)
	}
	return c, nil
}

// events writes a streamed answer.
type events struct {
	w   http.ResponseWriter
	enc *json.Encoder

	mu   sync.Mutex
	last time.Time // of the last progress event
}

// progressEvery is the least time between two progress events: a progress
// bar needs no more, and each event is a write and a flush (an add of 256
// KiB chunks reports every chunk).
const progressEvery = 50 * time.Millisecond

func newEvents(w http.ResponseWriter) *events {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return &events{w: w, enc: json.NewEncoder(w)}
}

// progress sends p, unless the last event went out less than
// progressEvery ago and p is not the last one (all bytes done).
func (e *events) progress(p node.Progress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if now.Sub(e.last) < progressEvery && (p.Total == 0 || p.Bytes < p.Total) {
		return
	}
	e.last = now
	data, _ := json.Marshal(p)
	e.enc.Encode(event{Progress: data}) //nolint:errcheck // a gone client ends the request's context
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish writes the result or the error: the status is already sent.
func (e *events) finish(result any, err error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		return e.enc.Encode(event{Error: err.Error()})
	}
	data, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return e.enc.Encode(event{Result: data})
}

// add imports a model: from the files at ?path= (and ?tokenizer=) when the
// client runs on this machine, else from its upload — a tar stream of
// "model/NAME" (a file, or the files of directory NAME) and optionally
// "tokenizer/NAME" — staged in a temporary directory.
func (h *Handler) add(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := node.AddOptions{Precision: q.Get("precision"), Name: q.Get("name")}
	if s := q.Get("chunk-size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return badf("chunk-size %q: not a number", s)
		}
		opts.ChunkSize = n
	}
	var src loader.Source
	if path := q.Get("path"); path != "" {
		var err error
		if src, err = localSource(r, path, q.Get("tokenizer")); err != nil {
			return err
		}
	} else {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != tarType {
			return badf("add takes a %s upload of model/NAME (and tokenizer/NAME), or ?path= on this machine", tarType)
		}
		dir, err := os.MkdirTemp(h.tmpDir, "add-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if src, err = receive(bufio.NewReaderSize(r.Body, copyBuffer), dir); err != nil {
			return err
		}
	}
	ev := newEvents(w)
	root, err := h.api.AddModel(r.Context(), src, opts, func(done, total int64) {
		ev.progress(node.Progress{Bytes: done, Total: total})
	})
	return ev.finish(root, err)
}

// localSource is the source of an add by path: absolute paths the daemon
// reads in place, taken only from a client on this machine (loopback). A
// path the daemon cannot open answers 422, so that the client uploads the
// files instead (a daemon in a container, say), with one message whether
// the path is missing or forbidden to the daemon; a path that is not a
// regular file (nor a model directory) answers 400.
func localSource(r *http.Request, path, tokenizer string) (loader.Source, error) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return loader.Source{}, badf("add ?path= is taken only from a client on the daemon's machine: upload the model instead")
	}
	for _, p := range []string{path, tokenizer} {
		if p != "" && !filepath.IsAbs(p) {
			return loader.Source{}, badf("add ?path=%s: not an absolute path", p)
		}
	}
	src := loader.Source{Path: path, Tokenizer: tokenizer}
	if err := src.Check(); err != nil {
		var open *fs.PathError
		if errors.As(err, &open) {
			return loader.Source{}, unreadable{fmt.Errorf("add: the daemon cannot read %s", open.Path)}
		}
		return loader.Source{}, badf("add: %v", err)
	}
	return src, nil
}

// unreadable is an add by path the daemon cannot read: 422.
type unreadable struct{ error }

// tarType is the media type of add uploads.
const tarType = "application/x-tar"

// copyBuffer is the buffer size of uploads.
const copyBuffer = 1 << 20

// receive writes the files of an add upload under dir and returns the
// source they make.
func receive(body io.Reader, dir string) (loader.Source, error) {
	var src loader.Source
	tr := tar.NewReader(body)
	buf := make([]byte, copyBuffer)
	for files := 0; ; files++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return src, badf("reading the upload: %v", err)
		}
		if files == maxUploadFiles {
			return src, badf("more than %d files in one add", maxUploadFiles)
		}
		if hdr.Typeflag != tar.TypeReg {
			return src, badf("upload entry %q is not a regular file", hdr.Name)
		}
		kind, name, _ := strings.Cut(hdr.Name, "/")
		name = filepath.Clean(filepath.FromSlash(name))
		if name == "." || filepath.IsAbs(name) || !filepath.IsLocal(name) {
			return src, badf("upload entry %q has a bad file name", hdr.Name)
		}
		path := filepath.Join(dir, kind, name)
		switch kind {
		case "model":
			top := filepath.Join(dir, kind, strings.Split(name, string(filepath.Separator))[0])
			if src.Path != "" && src.Path != top {
				return src, badf("an add takes one model (a file or a directory)")
			}
			src.Path = top
		case "tokenizer":
			src.Tokenizer = path
		default:
			return src, badf("unknown upload entry %q (want model/NAME or tokenizer/NAME)", hdr.Name)
		}
		if err := saveFile(path, tr, buf); err != nil {
			return src, err
		}
	}
	if src.Path == "" {
		return src, badf("add: the upload has no model/ entry")
	}
	src.Staged = true
	return src, nil
}

func saveFile(path string, r io.Reader, buf []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return badf("upload entry %s: %v", filepath.Base(path), err)
	}
	if _, err := io.CopyBuffer(f, r, buf); err != nil {
		f.Close()
		return badf("receiving %s: %v", filepath.Base(path), err)
	}
	return f.Close()
}

// writeError answers err with Kubo's error shape and the status of its
// kind: 400 for a node.ErrInvalid (a bad request), 404 for a
// node.ErrNotFound, 422 for an add by a path the daemon cannot read, 500
// for the rest (the daemon's own failures).
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var cannot unreadable
	switch {
	case errors.Is(err, node.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, node.ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &cannot):
		status = http.StatusUnprocessableEntity
	}
	writeStatus(w, status, err)
}

func writeStatus(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Message: err.Error(), Code: 0, Type: "error"}) //nolint:errcheck
}
