package quant

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustFormat(t testing.TB, s string) Format {
	t.Helper()
	f, err := ParseFormat(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stories260K's tensor shapes (dim 64, hidden 172, vocabulary 512).
var planTensors = []struct {
	name  string
	shape []int
}{
	{"token_embd.weight", []int{512, 64}},
	{"blk.0.attn_norm.weight", []int{64}},
	{"blk.0.attn_q.weight", []int{64, 64}},
	{"blk.0.attn_k.weight", []int{32, 64}},
	{"blk.0.attn_v.weight", []int{32, 64}},
	{"blk.0.attn_output.weight", []int{64, 64}},
	{"blk.0.ffn_norm.weight", []int{64}},
	{"blk.0.ffn_gate.weight", []int{172, 64}},
	{"blk.0.ffn_up.weight", []int{172, 64}},
	{"blk.0.ffn_down.weight", []int{64, 172}},
	{"blk.11.attn_q.weight", []int{64, 64}},
	{"blk.11.ffn_down.weight", []int{64, 172}},
	{"output_norm.weight", []int{64}},
	{"output.weight", []int{512, 64}},
}

func TestMixedPreset(t *testing.T) {
	p, err := Preset("mixed")
	if err != nil {
		t.Fatal(err)
	}
	q := func(bits int) Format { f, _ := PresetFormat(bits); return f }
	want := map[string]Format{
		"token_embd.weight":        q(8),
		"blk.0.attn_norm.weight":   FormatF32,
		"blk.0.attn_q.weight":      q(3),
		"blk.0.attn_k.weight":      q(3),
		"blk.0.attn_v.weight":      q(3),
		"blk.0.attn_output.weight": q(4),
		"blk.0.ffn_norm.weight":    FormatF32,
		"blk.0.ffn_gate.weight":    q(2),
		"blk.0.ffn_up.weight":      q(2),
		"blk.0.ffn_down.weight":    q(2),
		"blk.11.attn_q.weight":     q(3),
		"blk.11.ffn_down.weight":   q(2),
		"output_norm.weight":       FormatF32,
		"output.weight":            q(4),
	}
	for _, tt := range planTensors {
		f, why := p.Explain(tt.name, tt.shape)
		if f != want[tt.name] {
			t.Errorf("mixed: %s → %s (%s), want %s", tt.name, f, why, want[tt.name])
		}
		if g := p.FormatFor(tt.name, nil); g != want[tt.name] { // shape unknown
			t.Errorf("mixed: %s without shape → %s, want %s", tt.name, g, want[tt.name])
		}
	}
	if f := p.FormatFor("rope_freqs.extra", []int{8, 8}); f != q(4) {
		t.Errorf("mixed default: %s, want %s", f, q(4))
	}
	if want := "default=int4g64a; role:embedding=int8g128a; role:attention.query/key/value=int3g64; role:attention.output=int4g64a; role:feed_forward=int2g128; role:lm_head=int4g64a"; p.String() != want {
		t.Errorf("mixed.String() = %q, want %q", p.String(), want)
	}
}

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		p, err := Preset(name)
		if err != nil {
			t.Fatalf("Preset(%q): %v", name, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		q, err := ParsePlan(" " + strings.ToUpper(name) + " ")
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Errorf("ParsePlan(%q) = %v, %v; want %v", name, q, err, p)
		}
		r, err := ParsePlan(p.String())
		if err != nil || !reflect.DeepEqual(p, r) {
			t.Errorf("ParsePlan(%q) = %v, %v; want the preset back", p.String(), r, err)
		}
		if name == "mixed" {
			continue
		}
		want := map[string]string{"q8": "int8g128a", "q4": "int4g64a", "q3": "int3g64", "q2": "int2g128"}[name]
		if want == "" {
			want = name
		}
		if len(p.Rules) != 0 || !strings.EqualFold(p.Default.String(), want) {
			t.Errorf("preset %s = %v, want every matrix %s", name, p, want)
		}
		if f := p.FormatFor("blk.0.attn_norm.weight", []int{64}); f != FormatF32 {
			t.Errorf("preset %s stores a norm as %s", name, f)
		}
	}
	if _, err := Preset("q5"); err == nil || !strings.Contains(err.Error(), "mixed") {
		t.Errorf("Preset(q5) error %v should list the presets", err)
	}
}

func TestPlanPrecedence(t *testing.T) {
	p, err := ParsePlan("default=int4g64; match:blk.0.*=q8; role:feed_forward=int2g64a; match:blk.*.ffn_down.weight=int3g32; role:attention=f16")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want, why string
	}{
		{"blk.0.ffn_down.weight", "int8g128a", "rule 1"}, // first match wins
		{"blk.1.ffn_down.weight", "int2g64a", "rule 2"},  // the role rule is before the glob
		{"blk.1.ffn_up.weight", "int2g64a", "rule 2"},    //
		{"blk.1.attn_k.weight", "f16", "rule 4"},         //
		{"blk.0.attn_k.weight", "int8g128a", "rule 1"},   //
		{"token_embd.weight", "int4g64", "default"},      //
		{"blk.0.attn_norm.weight", "f32", "f32"},         // norms never follow rules
		{"blk.7.ffn_norm.weight", "f32", "f32"},          //
		{"output.weight", "int4g64", "default"},          //
		{"blk.x.attn_output.weight", "f16", "attention"}, // * matches any component
	} {
		f, why := p.Explain(c.name, []int{64, 64})
		if f.String() != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s → %s (%s), want %s (%s)", c.name, f, why, c.want, c.why)
		}
	}
	// A rule matching everything still leaves vectors f32.
	all, err := ParsePlan("default=q2; match:*=int2g32")
	if err != nil {
		t.Fatal(err)
	}
	if f := all.FormatFor("blk.0.attn_q.bias", []int{64}); f != FormatF32 {
		t.Errorf("a 1-D tensor got %s", f)
	}
	if f := all.FormatFor("output_norm.weight", nil); f != FormatF32 {
		t.Errorf("a norm without shape got %s", f)
	}
	var zero Plan
	if f := zero.FormatFor("token_embd.weight", []int{512, 64}); f != FormatF32 {
		t.Errorf("zero Plan gives %s, want f32", f)
	}
}

func TestPlanFallback(t *testing.T) {
	for _, c := range []struct{ plan, fallback string }{{"q4_0", "int4g32"}, {"q8_0", "int8g32"}} {
		p, err := ParsePlan(c.plan)
		if err != nil {
			t.Fatal(err)
		}
		f, why := p.Explain("blk.0.ffn_down.weight", []int{64, 172})
		if f.String() != c.fallback || !strings.Contains(why, c.plan+" cannot store rows of 172, "+c.fallback) {
			t.Errorf("%s on 64×172: %s (%s), want %s with the reason", c.plan, f, why, c.fallback)
		}
		if _, err := Quantize(make([]float32, 64*172), 64, 172, f); err != nil {
			t.Errorf("fallback %s: %v", f, err)
		}
		if f, why := p.Explain("blk.0.ffn_up.weight", []int{172, 64}); f.String() != c.plan {
			t.Errorf("%s on 172×64: %s (%s)", c.plan, f, why)
		}
		// Same bits per weight as the format it replaces.
		if a, b := mustFormat(t, c.plan).BitsPerWeight(256), mustFormat(t, c.fallback).BitsPerWeight(256); a != b {
			t.Errorf("%s costs %v bits per weight, its fallback %s %v", c.plan, a, c.fallback, b)
		}
	}
	p, _ := ParsePlan("int4g256; role:lm_head=q4_0")
	if f := p.FormatFor("output.weight", []int{512, 300}); f.String() != "int4g32" {
		t.Errorf("q4_0 rule on ragged rows: %s", f)
	}
}

func TestParsePlan(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"int4g64", "default=int4g64"},
		{"4", "default=int4g64a"},
		{"q3", "default=int3g64"},
		{"default=16", "default=f16"},
		{"default=32;role:lm_head=8", "default=f32; role:lm_head=int8g128a"},
		{"mixed; role:feed_forward=q3", "default=int4g64a; role:feed_forward=int3g64; role:embedding=int8g128a; role:attention.query/key/value=int3g64; role:attention.output=int4g64a; role:feed_forward=int2g128; role:lm_head=int4g64a"},
		{"q4_0; default=q8_0", "default=q8_0"},
		{" match:blk.?.attn_*=int3g128a ; default=bf16 ", "default=bf16; match:blk.?.attn_*=int3g128a"},
		{"match:a=b=int2g32", "default=f32; match:a=b=int2g32"},
	} {
		p, err := ParsePlan(c.in)
		if err != nil {
			t.Errorf("ParsePlan(%q): %v", c.in, err)
			continue
		}
		if p.String() != c.want {
			t.Errorf("ParsePlan(%q) = %q, want %q", c.in, p, c.want)
		}
	}
	for _, c := range []struct{ in, err string }{
		{"", "empty"},
		{"q5", "not a precision preset"},
		{"default=int4g64; q4", "item 2"},
		{"default=int5g64", "5-bit"},
		{"default=q5", "no preset \"q5\""},
		{"default=7", "no 7-bit format"},
		{"default=f32; default=f16", "second default"},
		{"role:attention.query/key/values=q4", "unknown role"},
		{"role:mlp=q4", "unknown role \"mlp\""},
		{"match:blk.[=q4", "rule 1 (match \"blk.[\"): bad glob"},
		{"match:=q4", "neither"},
		{"match:a b=q4", "white space"},
		{"mode:x=q4", "want default="},
		{"default=int4g48", "group size 48"},
	} {
		_, err := ParsePlan(c.in)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParsePlan(%q) error %v, want one containing %q", c.in, err, c.err)
		}
	}
}

// FuzzPlanFromDocument reads plan documents as JSON decodes them (package
// planfile fuzzes YAML's too): whatever it accepts is a valid plan that
// reads back from its string and stores every tensor.
func FuzzPlanFromDocument(f *testing.F) {
	f.Add(`{"default": "int4g64", "rules": [{"match": "blk.*", "format": 3}]}`)
	f.Add(`{"embedding": 8, "attention.query/key/value": 3, "feed_forward": 2, "lm_head": 4, "layernorm": 8}`)
	f.Add(`{"base": "mixed", "lm_head": "q8"}`)
	f.Add(`{"base": "default=q2; match:a=b=int3g32"}`)
	f.Add(`{"rules": [{"match": "x[", "format": "q4"}]}`)
	f.Add(`{"rules": [{"role": "attention", "format": 1e9}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		d := json.NewDecoder(strings.NewReader(data))
		d.UseNumber()
		var doc any
		if d.Decode(&doc) != nil {
			return
		}
		p, err := PlanFromDocument(doc)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed plan %v is invalid: %v", p, err)
		}
		q, err := ParsePlan(p.String())
		if err != nil {
			t.Fatalf("ParsePlan(%q): %v", p.String(), err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("plan %q reads back as %q", p, q)
		}
		for _, tt := range planTensors {
			f := p.FormatFor(tt.name, tt.shape)
			if err := codecFor(f).checkCols(tt.shape[len(tt.shape)-1]); err != nil {
				t.Fatalf("%s → %s, which cannot store it: %v", tt.name, f, err)
			}
		}
	})
}

// TestPresetChoice measures, for each Int width, the relative RMS weight
// error of every group size and symmetry on Gaussian and Student-t(3) rows,
// scores each by error × 2^(bits per weight) (the error at equal storage,
// since each bit halves it), and checks that the width presets are the best
// by the geometric mean of the two scores (within 1% for noise).
func TestPresetChoice(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 32 formats")
	}
	r := rand.New(rand.NewPCG(21, 22))
	const rows, cols = 32, 1024
	data := [][]float32{gaussian(r, rows*cols), heavyTailed(r, rows*cols)}
	for _, bits := range intBits {
		type scored struct {
			f     Format
			score float64
		}
		var all []scored
		for _, asym := range []bool{false, true} {
			for _, g := range intGroups {
				f := Format{Kind: Int, Bits: bits, Group: g, Asym: asym}
				bpw := f.BitsPerWeight(cols)
				score := 1.0
				var e [2]float64
				for i, w := range data {
					m, err := Quantize(w, rows, cols, f)
					if err != nil {
						t.Fatal(err)
					}
					e[i] = relRMS(m.Dequantize(), w)
					score *= e[i] * math.Exp2(bpw)
				}
				all = append(all, scored{f, math.Sqrt(score)})
				t.Logf("%-10s bpw %.3f  error gaussian %.4f student-t3 %.4f  score %.3f", f, bpw, e[0], e[1], math.Sqrt(score))
			}
		}
		slices.SortFunc(all, func(a, b scored) int { return cmpFloat(a.score, b.score) })
		chosen, _ := PresetFormat(bits)
		for _, s := range all {
			if s.f == chosen && s.score > all[0].score*1.01 {
				t.Errorf("q%d preset %s scores %.3f, but %s scores %.3f", bits, chosen, s.score, all[0].f, all[0].score)
			}
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
