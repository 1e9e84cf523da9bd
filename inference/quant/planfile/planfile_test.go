package planfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

func mustFormat(t testing.TB, s string) quant.Format {
	t.Helper()
	f, err := quant.ParseFormat(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const briefYAML = `
default: int4g64
rules:
  - match: "blk.*.ffn_*"
    format: int2g64a
  - role: attention.query
    format: int3g128
`

func TestParse(t *testing.T) {
	want := quant.Plan{Default: mustFormat(t, "int4g64"), Rules: []quant.Rule{
		{Match: "blk.*.ffn_*", Format: mustFormat(t, "int2g64a")},
		{Role: "attention.query", Format: mustFormat(t, "int3g128")},
	}}
	json := `{"default": "int4g64", "rules": [{"match": "blk.*.ffn_*", "format": "int2g64a"}, {"role": "attention.query", "format": "int3g128"}]}`
	for _, c := range []struct{ data, ext string }{{briefYAML, ".yaml"}, {briefYAML, "yml"}, {json, ".json"}, {json, "JSON"}, {json, ".yaml"}} {
		p, err := Parse([]byte(c.data), c.ext)
		if err != nil || !reflect.DeepEqual(p, want) {
			t.Errorf("Parse(%s) = %v, %v; want %v", c.ext, p, err, want)
		}
	}
	p, _ := Parse([]byte(briefYAML), ".yaml")
	if f := p.FormatFor("blk.3.ffn_down.weight", []int{64, 172}); f.String() != "int2g64a" {
		t.Errorf("ffn_down → %s", f)
	}

	// The reference docs' style: roles as keys, numbers as bits.
	ref := `{"embedding": 8, "attention.query/key/value": 3, "feed_forward": 2, "lm_head": 4, "layernorm": 8, "attention": "f16"}`
	p, err := Parse([]byte(ref), ".json")
	if err != nil {
		t.Fatal(err)
	}
	if want := "default=f32; role:attention.query/key/value=int3g64; role:attention=f16; role:embedding=int8g128a; role:feed_forward=int2g128; role:layernorm=int8g128a; role:lm_head=int4g64a"; p.String() != want {
		t.Errorf("reference-style file: %q, want %q", p, want)
	}
	if f := p.FormatFor("blk.0.attn_output.weight", []int{64, 64}); f != quant.FormatF16 {
		t.Errorf("attention.output → %s, want f16 from role attention", f)
	}
	if f := p.FormatFor("blk.0.attn_norm.weight", []int{64}); f != quant.FormatF32 {
		t.Errorf("layernorm rule stored a norm as %s", f)
	}

	// A base preset with overrides before it.
	p, err = Parse([]byte("base: mixed\nrules:\n  - {role: feed_forward.down, format: q4}\nlm_head: q8\n"), ".yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"blk.2.ffn_down.weight": "int4g64a", "blk.2.ffn_up.weight": "int2g128",
		"output.weight": "int8g128a", "blk.2.attn_v.weight": "int3g64", "other.weight": "int4g64a",
	} {
		if f := p.FormatFor(name, []int{64, 64}); f.String() != want {
			t.Errorf("base mixed + overrides: %s → %s, want %s", name, f, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ data, ext, err string }{
		{"", ".yaml", "want a mapping"},
		{"[]", ".json", "not a list"},
		{"{", ".json", "plan file"},
		{"default: [", ".yaml", "plan file: yaml"},
		{`{"default": "int4g64"} {}`, ".json", "after the JSON"},
		{"default: int5g64", ".yaml", "default: quant: 5-bit"},
		{"default: 4.5", ".yaml", "not 4.5"},
		{"rules: {match: x}", ".yaml", "rules: want a list"},
		{"rules:\n  - match: a\n    format: q4\n  - match: 'blk.*'\n    format: int9g64", ".yaml", `rule 2 (match "blk.*"): quant: 9-bit`},
		{"rules:\n  - role: lm_head\n", ".yaml", "rule 1 (role lm_head): no format"},
		{"rules:\n  - {role: lm_head, match: x, format: q4}\n", ".yaml", "rule 1 (match \"x\"): has both match and role"},
		{"rules:\n  - {format: q4}\n", ".yaml", "rule 1: has neither match nor role"},
		{"rules:\n  - {role: heads, format: q4}\n", ".yaml", "rule 1 (role heads): unknown role"},
		{"rules:\n  - {match: 'x[', format: q4}\n", ".yaml", "rule 1 (match \"x[\"): bad glob"},
		{"rules:\n  - {match: x, format: q4, bits: 4}\n", ".yaml", "rule 1 (match \"x\"): unknown key \"bits\""},
		{"rules:\n  - {match: 3, format: q4}\n", ".yaml", "rule 1: match: want a non-empty string, not 3"},
		{"rules:\n  - q4\n", ".yaml", "rule 1: want a mapping"},
		{"rule:\n  - {match: x, format: q4}\n", ".yaml", "unknown key \"rule\""},
		{"feed_forward: [2]", ".yaml", "role feed_forward: want a format name"},
		{"base: q7", ".yaml", "base: quant: \"q7\" is not a precision preset"},
		{"base: 4", ".yaml", "base: want a preset name"},
		{"default: q4\ndefault: q8\n", ".yaml", "already defined"},
	} {
		_, err := Parse([]byte(c.data), c.ext)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Parse(%q, %s) error %v, want one containing %q", c.data, c.ext, err, c.err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"plan.yaml", "plan.json"} {
		data := briefYAML
		if strings.HasSuffix(name, ".json") {
			data = `{"default": "q4", "rules": [{"role": "lm_head", "format": 8}]}`
		}
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(file); err != nil {
			t.Errorf("Load(%s): %v", name, err)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"default": "int4g7"}`), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("Load(bad.json) error %v should name the file", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadPlan of a missing file succeeded")
	}
}

// FuzzParse: whatever Parse accepts is a valid plan that reads back from
// its string.
func FuzzParse(f *testing.F) {
	f.Add([]byte(briefYAML), ".yaml")
	f.Add([]byte(`{"default": "int4g64", "rules": [{"match": "blk.*", "format": 3}]}`), ".json")
	f.Add([]byte(`{"embedding": 8, "attention.query/key/value": 3, "feed_forward": 2, "lm_head": 4, "layernorm": 8}`), ".json")
	f.Add([]byte("base: mixed\nlm_head: q8\n"), ".yml")
	f.Add([]byte("base: 'default=q2; match:a=b=int3g32'\n"), ".yaml")
	f.Add([]byte("rules:\n  - {match: 'x[', format: q4}\n"), ".yaml")
	f.Add([]byte("default: [\n"), ".yaml")
	f.Add([]byte(`{"rules": [{"role": "attention", "format": 1e9}]}`), ".json")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		p, err := Parse(data, ext)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed plan %v is invalid: %v", p, err)
		}
		q, err := quant.ParsePlan(p.String())
		if err != nil {
			t.Fatalf("quant.ParsePlan(%q): %v", p.String(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("plan %q reads back as %q", p, q)
		}
	})
}
