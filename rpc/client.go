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
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/ipfs-accelerate/accel/blockstore"
	"github.com/ipfs-accelerate/accel/loader"
	"github.com/ipfs-accelerate/accel/node"
)

// Client is node.API over a daemon's RPC API.
type Client struct {
	base  string // http://host:port
	token string
	http  *http.Client
	local bool // the daemon listens on loopback: it shares this machine's files
}

var _ node.API = (*Client)(nil)

// NewClient talks to the RPC API at addr, a multiaddr such as
// /ip4/127.0.0.1/tcp/5001 (the content of the repo's api file), sending
// token when it is not "".
func NewClient(addr, token string) (*Client, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return nil, fmt.Errorf("API address %q: %w", addr, err)
	}
	na, err := manet.ToNetAddr(m)
	if err != nil {
		return nil, fmt.Errorf("API address %q: %w", addr, err)
	}
	return &Client{base: "http://" + na.String(), token: token, http: &http.Client{}, local: manet.IsIPLoopback(m)}, nil
}

// call POSTs a command and returns the response when its status is 200.
func (c *Client) call(ctx context.Context, cmd string, args url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.base + Prefix + cmd
	if len(args) > 0 {
		u += "?" + args.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon API: %w (is the daemon still running?)", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e errorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return nil, apiError{resp.StatusCode, e.Message}
		}
		return nil, apiError{resp.StatusCode, fmt.Sprintf("daemon API %s: %s", cmd, resp.Status)}
	}
	return resp, nil
}

// decode runs a command and decodes its JSON answer into out.
func (c *Client) decode(ctx context.Context, cmd string, args url.Values, body io.Reader, out any) error {
	resp, err := c.call(ctx, cmd, args, body, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("daemon API %s: bad answer: %w", cmd, err)
	}
	return nil
}

// events reads a streamed answer, passing progress lines to progress and
// decoding the result into out.
func (c *Client) events(resp *http.Response, progress func(json.RawMessage), out any) error {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("daemon API: bad event %q: %w", sc.Text(), err)
		}
		switch {
		case ev.Error != "":
			return errors.New(ev.Error)
		case ev.Result != nil:
			return json.Unmarshal(ev.Result, out)
		case ev.Progress != nil && progress != nil:
			progress(ev.Progress)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("daemon API: %w", err)
	}
	return errors.New("daemon API: the answer ended without a result (did the daemon stop?)")
}

func cidArgs(c cid.Cid) url.Values { return url.Values{"arg": {c.String()}} }

func (c *Client) ID(ctx context.Context) (info node.IDInfo, err error) {
	return info, c.decode(ctx, "id", nil, nil, &info)
}

func (c *Client) SwarmConnect(ctx context.Context, addr string) error {
	return c.decode(ctx, "swarm/connect", url.Values{"arg": {addr}}, nil, nil)
}

func (c *Client) SwarmDisconnect(ctx context.Context, addr string) error {
	return c.decode(ctx, "swarm/disconnect", url.Values{"arg": {addr}}, nil, nil)
}

func (c *Client) SwarmPeers(ctx context.Context) (peers []node.PeerInfo, err error) {
	return peers, c.decode(ctx, "swarm/peers", nil, nil, &peers)
}

func (c *Client) SwarmAddrs(ctx context.Context) (addrs []string, err error) {
	return addrs, c.decode(ctx, "swarm/addrs", nil, nil, &addrs)
}

func (c *Client) Pins(ctx context.Context) (pins []node.PinInfo, err error) {
	return pins, c.decode(ctx, "pin/ls", nil, nil, &pins)
}

func (c *Client) Unpin(ctx context.Context, k cid.Cid) error {
	return c.decode(ctx, "pin/rm", cidArgs(k), nil, nil)
}

func (c *Client) Stat(ctx context.Context, k cid.Cid) (st *node.ModelStat, err error) {
	return st, c.decode(ctx, "stat", cidArgs(k), nil, &st)
}

func (c *Client) GC(ctx context.Context) (res blockstore.GCResult, err error) {
	return res, c.decode(ctx, "gc", nil, nil, &res)
}

func (c *Client) RepoStat(ctx context.Context) (st *node.RepoStat, err error) {
	return st, c.decode(ctx, "repo/stat", nil, nil, &st)
}

func (c *Client) Verify(ctx context.Context) (int, []cid.Cid, error) {
	var res verifyResult
	err := c.decode(ctx, "repo/verify", nil, nil, &res)
	return res.Checked, res.Corrupt, err
}

func (c *Client) ImportCAR(ctx context.Context, r io.Reader) (roots []cid.Cid, err error) {
	return roots, c.decode(ctx, "import", nil, r, &roots)
}

func (c *Client) Block(ctx context.Context, k cid.Cid) ([]byte, error) {
	resp, err := c.call(ctx, "block/get", cidArgs(k), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// copyTo streams a command's body into w.
func (c *Client) copyTo(ctx context.Context, cmd string, k cid.Cid, w io.Writer) error {
	resp, err := c.call(ctx, cmd, cidArgs(k), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("daemon API %s: %w", cmd, err)
	}
	return nil
}

func (c *Client) ExportCAR(ctx context.Context, k cid.Cid, w io.Writer) error {
	return c.copyTo(ctx, "export", k, w)
}

func (c *Client) WriteGGUF(ctx context.Context, k cid.Cid, w io.Writer) error {
	return c.copyTo(ctx, "get", k, w)
}

func (c *Client) PinAdd(ctx context.Context, k cid.Cid, name string, progress func(node.Progress)) error {
	args := cidArgs(k)
	if name != "" {
		args.Set("name", name)
	}
	resp, err := c.call(ctx, "pin/add", args, nil, "")
	if err != nil {
		return err
	}
	var root cid.Cid
	return c.events(resp, func(raw json.RawMessage) {
		var p node.Progress
		if progress != nil && json.Unmarshal(raw, &p) == nil {
			progress(p)
		}
	}, &root)
}

// apiError is an error answer of the daemon, with its HTTP status. It is
// of the node error kind the status stands for, as the daemon's error was.
type apiError struct {
	status  int
	message string
}

func (e apiError) Error() string { return e.message }

func (e apiError) Unwrap() error {
	switch e.status {
	case http.StatusBadRequest:
		return node.ErrInvalid
	case http.StatusNotFound:
		return node.ErrNotFound
	}
	return nil
}

// AddModel imports the model (a file, or every file of a directory) and
// its tokenizer on the daemon: a daemon on this machine reads them in
// place; any other, or one that cannot read them, gets them uploaded as a
// tar stream.
func (c *Client) AddModel(ctx context.Context, src loader.Source, opts node.AddOptions, progress func(done, total int64)) (cid.Cid, error) {
	args := url.Values{}
	if opts.Precision != "" {
		args.Set("precision", opts.Precision)
	}
	if opts.ChunkSize != 0 {
		args.Set("chunk-size", strconv.Itoa(opts.ChunkSize))
	}
	if opts.Name != "" {
		args.Set("name", opts.Name)
	}
	var (
		resp *http.Response
		err  error
	)
	if c.local {
		resp, err = c.call(ctx, "add", withPaths(args, src), nil, "")
	}
	var api apiError
	if !c.local || errors.As(err, &api) && api.status == http.StatusUnprocessableEntity {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(upload(pw, src)) }()
		resp, err = c.call(ctx, "add", args, pr, tarType)
		pr.CloseWithError(errors.New("request done"))
	}
	if err != nil {
		return cid.Undef, err
	}
	var root cid.Cid
	err = c.events(resp, func(raw json.RawMessage) {
		var p node.Progress
		if progress != nil && json.Unmarshal(raw, &p) == nil {
			progress(p.Bytes, p.Total)
		}
	}, &root)
	return root, err
}

// withPaths is args with src's absolute paths, for an add in place.
func withPaths(args url.Values, src loader.Source) url.Values {
	out := url.Values{}
	maps.Copy(out, args)
	if p, err := filepath.Abs(src.Path); err == nil {
		out.Set("path", p)
	}
	if src.Tokenizer != "" {
		if p, err := filepath.Abs(src.Tokenizer); err == nil {
			out.Set("tokenizer", p)
		}
	}
	return out
}

// upload writes src's files to w as a tar stream: model/NAME (or
// model/NAME/… for a directory) and tokenizer/NAME.
func upload(w io.Writer, src loader.Source) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, copyBuffer)
	entry := func(path, name string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: 0o600}); err != nil {
			return err
		}
		_, err = io.CopyBuffer(tw, f, buf)
		return err
	}
	st, err := os.Stat(src.Path)
	if err != nil {
		return err
	}
	base := filepath.Base(src.Path)
	if st.IsDir() {
		err = filepath.WalkDir(src.Path, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(src.Path, path)
			if err != nil {
				return err
			}
			return entry(path, "model/"+base+"/"+filepath.ToSlash(rel))
		})
	} else {
		err = entry(src.Path, "model/"+base)
	}
	if err == nil && src.Tokenizer != "" {
		err = entry(src.Tokenizer, "tokenizer/"+filepath.Base(src.Tokenizer))
	}
	if err != nil {
		return err
	}
	return tw.Close()
}
