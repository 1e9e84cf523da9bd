//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

// An add by path has the daemon read files with the user's rights: these
// tests hand it what a careless or hostile local caller could, over the RPC
// API of a real daemon.

// addByPath asks the daemon at api to add the files at path and tokenizer
// in place, and returns the answer's status, its error message (the error
// body's, or the stream's Error event's) and its whole body.
func addByPath(ctx context.Context, t *testing.T, api, path, tokenizer string) (status int, msg, body string) {
	t.Helper()
	q := url.Values{"path": {path}}
	if tokenizer != "" {
		q.Set("tokenizer", tokenizer)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v0/add?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body = string(raw)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		json.Unmarshal(raw, &e)
		return resp.StatusCode, e.Message, body
	}
	for _, line := range strings.Split(body, "\n") {
		var ev struct{ Error string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Error != "" {
			msg = ev.Error
		}
	}
	return resp.StatusCode, msg, body
}

// headerNumbers are the seven 4-byte little-endian integers at the start of
// data, as a llama2.c header reads them, in decimal (signed and unsigned).
func headerNumbers(data []byte) []string {
	var out []string
	for i := 0; i+4 <= min(len(data), 28); i += 4 {
		v := binary.LittleEndian.Uint32(data[i:])
		out = append(out, strconv.FormatUint(uint64(v), 10), strconv.Itoa(int(int32(v))))
	}
	return out
}

// writeRandom writes size random bytes to a new file at path and returns
// the first 28 of them.
func writeRandom(t *testing.T, path string, size int64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{1})
	head := make([]byte, 28)
	rng.Read(head)
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rng, size-int64(len(head))); err != nil {
		t.Fatal(err)
	}
	return head
}

// Files that are not models — a device, a FIFO, a large file of random
// bytes, a file of password hashes — are each refused in under 5 s with an
// error that names the path and quotes nothing of the file; the daemon
// stays up, and its memory does not grow with the file.
func TestAddByPathRefusesWhatIsNotAModel(t *testing.T) {
	d := startDaemon(t, newRepo(t))
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "random.bin")
	bigHeader := writeRandom(t, big, 166<<20)
	defer os.Remove(big)
	shadowText := []byte("root:$6$saltsalt$Qw3rTyUi0pAsDfGhJkLzXcVbNm1234567890abcdefghijklmnopqrstuvwxyzABCDEFGH:19000:0:99999:7:::\n" +
		"daemon:*:19000:0:99999:7:::\nuser:$6$pepperpe$AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnopqrstuvwxyz:19000:0:99999:7:::\n")
	shadow := filepath.Join(dir, "shadow")
	if err := os.WriteFile(shadow, shadowText, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		head       []byte // the file's first bytes, none of which an answer may quote
		secrets    []string
		want       string
	}{
		{"device", "/dev/zero", nil, nil, "/dev/zero: not a regular file"},
		{"FIFO", fifo, nil, nil, fifo + ": not a regular file"},
		{"random bytes", big, bigHeader, nil, big + ": not a GGUF, llama2.c or safetensors model"},
		{"password hashes", shadow, shadowText[:28], []string{"root", "saltsalt", "daemon"}, shadow + ": not a GGUF, llama2.c or safetensors model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := daemontest.ResetPeakRSS(d.Pid()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			status, msg, body := addByPath(ctx, t, d.API, c.path, "")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the answer took %v", took)
			}
			if status == 0 || !strings.Contains(msg, c.want) {
				t.Errorf("answer %d %q, want an error containing %q (body %q)", status, msg, c.want, body)
			}
			for _, s := range append(headerNumbers(c.head), c.secrets...) {
				if strings.Contains(strings.ReplaceAll(body, c.path, ""), s) {
					t.Errorf("the answer %q quotes %q from the file", body, s)
				}
			}
			d.Run("id")
			if peak, err := daemontest.PeakRSS(d.Pid()); err != nil || peak > 150<<20 {
				t.Errorf("the daemon's peak RSS is %d MiB (%v)", peak>>20, err)
			}
		})
	}
	if pins := pinList(t, d.Dir); len(pins) != 0 {
		t.Errorf("pins after refused adds: %v", pins)
	}
}

// A path the daemon cannot open answers the same status and message
// whether it is missing or not a path at all, telling nothing of why.
func TestAddByPathHidesWhyAPathCannotBeRead(t *testing.T) {
	d := startDaemon(t, newRepo(t))
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "absent"), filepath.Join(file, "below-a-file")}
	if os.Geteuid() != 0 { // root reads any file
		locked := filepath.Join(dir, "locked")
		if err := os.WriteFile(locked, []byte("secret"), 0o000); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, locked)
	}
	for _, path := range paths {
		status, msg, _ := addByPath(context.Background(), t, d.API, path, "")
		if want := "add: the daemon cannot read " + path; status != http.StatusUnprocessableEntity || msg != want {
			t.Errorf("%s: answer %d %q, want 422 %q", path, status, msg, want)
		}
	}
}

// A tokenizer that is a device, or a file whose tokens are all empty, is
// refused before anything is pinned.
func TestAddByPathRefusesBadTokenizers(t *testing.T) {
	needModels(t)
	d := startDaemon(t, newRepo(t))
	model, err := filepath.Abs(filepath.Join(models, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.bin")
	if err := os.WriteFile(empty, make([]byte, 4+8*512), 0o600); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{
		"/dev/zero": "/dev/zero: not a regular file",
		empty:       empty + ": tokenizer: llama2.c: the vocabulary is empty",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		status, msg, _ := addByPath(ctx, t, d.API, model, tok)
		cancel()
		if status == 0 || !strings.Contains(msg, want) {
			t.Errorf("tokenizer %s: answer %d %q, want an error containing %q", tok, status, msg, want)
		}
	}
	if pins := pinList(t, d.Dir); len(pins) != 0 {
		t.Errorf("pins after refused adds: %v", pins)
	}
}

// A client that hangs up on an add does not leave GC waiting for it.
func TestHungUpAddFreesGC(t *testing.T) {
	d := startDaemon(t, newRepo(t))
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	addByPath(ctx, t, d.API, fifo, "")
	cancel()
	gc := startProc(t, d.Dir, "gc")
	if err := gc.wait(t, 10*time.Second); err != nil || !strings.HasPrefix(gc.stdout.String(), "removed ") {
		t.Fatalf("gc after the add: %v, %q %q", err, gc.stdout.String(), gc.stderr.String())
	}
}
