package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunLlamaBench reads llama-bench's JSON (a stand-in script prints
// it): the medians of the pp and tg samples.
func TestRunLlamaBench(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "llama-bench")
	script := `#!/bin/sh
cat <<'JSON'
[{"n_prompt": 512, "n_gen": 0, "samples_ts": [100, 300, 200]},
 {"n_prompt": 0, "n_gen": 40, "samples_ts": [10, 30]}]
JSON
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := runLlamaBench(bin, "model.gguf", 2, 512, 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.PrefillTokensPerS != 200 || r.DecodeTokensPerS != 20 {
		t.Fatalf("got %+v, want prefill 200 and decode 20", r)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho '[]'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runLlamaBench(bin, "model.gguf", 1, 512, 40, 3); err == nil {
		t.Fatal("no figures accepted")
	}
}
