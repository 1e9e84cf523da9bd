package quant

// Mixed precision: a Plan picks each tensor's Format by its GGUF name.
//
// A Plan is an ordered list of rules and a default: the first rule that
// matches a tensor's name gives its format, else the default does. A rule
// matches either by a glob on the whole name (path.Match syntax: * and ?
// match any characters but '/', so "blk.*.ffn_*" matches every feed-forward
// matrix) or by a role keyword (from the reference docs):
//
//	embedding          token_embd.weight
//	lm_head            output.weight
//	attention          blk.*.attn_{q,k,v,output,qkv}.weight
//	attention.query    blk.*.attn_q.weight       (also .key → attn_k,
//	attention.output   blk.*.attn_output.weight   .value → attn_v)
//	feed_forward       blk.*.ffn_{gate,up,down}.weight
//	feed_forward.gate  blk.*.ffn_gate.weight     (also .up, .down)
//	layernorm          *norm.weight (has no effect: norms stay f32)
//
// and a role may list alternatives after a slash: "attention.query/key/value"
// is the three of them.
//
// Whatever the rules say, 1-D tensors (norm weights, biases) and tensors
// named *norm.weight stay f32. A format that cannot store a tensor's row
// length falls back: q8_0 and q4_0 need rows that are a multiple of 32, and
// other rows get int8g32 and int4g32 (symmetric, a float16 scale per 32
// weights: the same values and size per weight as q8_0 and q4_0, in the Int
// row layout); the K-quants q4_K, q5_K and q6_K need multiples of 256 (see
// fallback); Explain reports it.
//
// Formats are written as Format names (f32, f16, bf16, q8_0, q4_0, int4g64,
// int3g128a, …), as a width preset (q2, q3, q4, q8: the Int formats below), or
// as a number of bits (2, 3, 4, 8 as q2…q8; 16 as f16; 32 as f32).
//
// Presets (Preset, ParsePlan):
//
//	f32 f16 bf16 q8_0 q4_0   every matrix in that format
//	q4_k q5_k q6_k           every matrix in that K-quant (GGML's Q4_K …)
//	q8   int8g128a           every matrix in one Int width; the group size and
//	q4   int4g64a            symmetry of each width are the ones with the least
//	q3   int3g64             error per stored bit on random rows (see PresetFormat)
//	q2   int2g128
//	mixed                    embedding q8; attention.query/key/value q3;
//	                         attention.output q4; feed_forward q2; lm_head q4;
//	                         anything else q4; norms f32
//
// The compact text form (ParsePlan, String) is items separated by ';':
// "default=FORMAT", "role:ROLE=FORMAT", "match:GLOB=FORMAT" (rules in order),
// optionally preceded by one bare preset or format name, the base: the
// listed rules come before the base's and the default replaces its default.
// E.g. "mixed; role:feed_forward=q3" or "default=int4g64; match:blk.0.*=q8".
//
// A plan file (package planfile; PlanFromDocument) is JSON or YAML:
//
//	base: mixed                  # optional: a preset or compact plan, as above
//	default: int4g64             # optional: else the base's, else f32
//	rules:                       # optional, tried in order, before the base's
//	  - match: "blk.*.ffn_*"     # a glob, or
//	    format: int2g64a
//	  - role: attention.query    # a role
//	    format: 3
//	lm_head: 8                   # a role as a key: like a rule after the list
//
// Roles given as top-level keys (the reference docs' style,
// "embedding: 8, attention.query/key/value: 3, feed_forward: 2") come after
// the rules list, the dotted (more specific) roles first, each group in
// alphabetical order.

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Plan assigns formats to tensors by name. The zero Plan stores everything
// as f32.
type Plan struct {
	Default Format
	Rules   []Rule
}

// Rule gives Format to the tensors it matches: by a glob on the name
// (Match) or by a role keyword (Role); exactly one of the two is set.
type Rule struct {
	Match  string
	Role   string
	Format Format
}

// roleGlobs are the tensor-name patterns of each role.
var roleGlobs = map[string][]string{
	"embedding":         {"token_embd.weight"},
	"lm_head":           {"output.weight"},
	"attention":         {"blk.*.attn_q.weight", "blk.*.attn_k.weight", "blk.*.attn_v.weight", "blk.*.attn_output.weight", "blk.*.attn_qkv.weight"},
	"attention.query":   {"blk.*.attn_q.weight"},
	"attention.key":     {"blk.*.attn_k.weight"},
	"attention.value":   {"blk.*.attn_v.weight"},
	"attention.output":  {"blk.*.attn_output.weight"},
	"feed_forward":      {"blk.*.ffn_gate.weight", "blk.*.ffn_up.weight", "blk.*.ffn_down.weight"},
	"feed_forward.gate": {"blk.*.ffn_gate.weight"},
	"feed_forward.up":   {"blk.*.ffn_up.weight"},
	"feed_forward.down": {"blk.*.ffn_down.weight"},
	"layernorm":         {"*norm.weight"},
}

// Roles lists the role keywords rules can use.
func Roles() []string {
	r := make([]string, 0, len(roleGlobs))
	for k := range roleGlobs {
		r = append(r, k)
	}
	slices.Sort(r)
	return r
}

// expandRole splits "attention.query/key/value" into its roles, checking
// each.
func expandRole(role string) ([]string, error) {
	parts := strings.Split(role, "/")
	prefix, _, dotted := strings.Cut(parts[0], ".")
	out := make([]string, len(parts))
	for i, p := range parts {
		if i > 0 && dotted {
			p = prefix + "." + p
		}
		if _, ok := roleGlobs[p]; !ok {
			return nil, fmt.Errorf("unknown role %q (want one of %s)", role, strings.Join(Roles(), ", "))
		}
		out[i] = p
	}
	return out, nil
}

func (r Rule) matches(name string) bool {
	if r.Match != "" {
		ok, _ := path.Match(r.Match, name)
		return ok
	}
	roles, _ := expandRole(r.Role)
	for _, role := range roles {
		for _, g := range roleGlobs[role] {
			if ok, _ := path.Match(g, name); ok {
				return true
			}
		}
	}
	return false
}

// describe names a rule in messages: `match "blk.*"` or `role lm_head`.
func (r Rule) describe() string {
	if r.Match != "" {
		return fmt.Sprintf("match %q", r.Match)
	}
	return "role " + r.Role
}

func (r Rule) validate() error {
	switch {
	case r.Match != "" && r.Role != "":
		return errors.New("has both match and role (give one)")
	case r.Match == "" && r.Role == "":
		return errors.New("has neither match nor role")
	case r.Match != "":
		if _, err := path.Match(r.Match, ""); err != nil {
			return fmt.Errorf("bad glob %q: %v", r.Match, err)
		}
		if strings.ContainsRune(r.Match, ';') || strings.IndexFunc(r.Match, unicode.IsSpace) >= 0 {
			return fmt.Errorf("glob %q contains ';' or white space, which no tensor name has", r.Match)
		}
	default:
		if _, err := expandRole(r.Role); err != nil {
			return err
		}
	}
	return r.Format.Validate()
}

// Validate checks the default, every rule's pattern or role and its format.
func (p Plan) Validate() error {
	if err := p.Default.Validate(); err != nil {
		return fmt.Errorf("quant: plan default: %w", err)
	}
	for i, r := range p.Rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("quant: plan rule %d (%s): %w", i+1, r.describe(), err)
		}
	}
	return nil
}

// FormatFor is the format for tensor name of the given shape (outermost
// first, [rows, cols] for a matrix; nil if unknown).
func (p Plan) FormatFor(name string, shape []int) Format {
	f, _ := p.Explain(name, shape)
	return f
}

// Explain is FormatFor with the reason: the rule that matched (1-based),
// the default, the f32 rule for vectors, and any fallback taken.
func (p Plan) Explain(name string, shape []int) (Format, string) {
	if len(shape) == 1 || strings.HasSuffix(name, "norm.weight") {
		return FormatF32, "vectors and norms stay f32"
	}
	f, why := p.Default, "default"
	for i, r := range p.Rules {
		if r.matches(name) {
			f, why = r.Format, fmt.Sprintf("rule %d (%s)", i+1, r.describe())
			break
		}
	}
	if len(shape) >= 2 && f.Validate() == nil {
		cols := shape[len(shape)-1]
		if err := codecFor(f).checkCols(cols); err != nil {
			fb := fallback(f, cols)
			why += fmt.Sprintf("; %s cannot store rows of %d, %s instead", f, cols, fb)
			f = fb
		}
	}
	return f, why
}

// fallback is the format for rows of cols weights that f cannot store:
// int8g32 for q8_0 and int4g32 for q4_0. The K-quants fall back as
// llama.cpp's quantizer does as far as this package runs its formats: to
// f16 where rows are not a multiple of 32, else q6_K to q8_0, q5_K to q8_0
// (llama.cpp: Q5_1) and q4_K to int4g32a (llama.cpp: Q5_0).
func fallback(f Format, cols int) Format {
	switch {
	case f.Kind == Q8_0:
		return Format{Kind: Int, Bits: 8, Group: 32}
	case f.Kind == Q4_0:
		return Format{Kind: Int, Bits: 4, Group: 32}
	case cols%32 != 0:
		return FormatF16
	case f.Kind == Q4K:
		return Format{Kind: Int, Bits: 4, Group: 32, Asym: true}
	}
	return FormatQ8_0
}

// String is the plan's compact text form, which ParsePlan reads back:
// "default=FORMAT" then each rule as "role:ROLE=FORMAT" or
// "match:GLOB=FORMAT", separated by "; ".
func (p Plan) String() string {
	var b strings.Builder
	b.WriteString("default=" + p.Default.String())
	for _, r := range p.Rules {
		if r.Match != "" {
			b.WriteString("; match:" + r.Match)
		} else {
			b.WriteString("; role:" + r.Role)
		}
		b.WriteString("=" + r.Format.String())
	}
	return b.String()
}

// presetWidths are the Int formats of the width presets q2…q8, chosen by
// TestPresetChoice: for each width, a group size and symmetry whose
// relative RMS error × 2^(bits per weight) (error at an equal storage
// cost, as each bit halves the error) is within 1% of the least, as a
// geometric mean over Gaussian and Student-t(3) rows of 1024. At 8 bits
// int8g128a and int8g64a tie; int8g128a decodes faster (fewer scales to
// gather per row), so it is the preset.
var presetWidths = map[int]Format{
	2: {Kind: Int, Bits: 2, Group: 128},
	3: {Kind: Int, Bits: 3, Group: 64},
	4: {Kind: Int, Bits: 4, Group: 64, Asym: true},
	8: {Kind: Int, Bits: 8, Group: 128, Asym: true},
}

// PresetFormat is the Int format of the width preset qN (bits 2, 3, 4 or 8).
func PresetFormat(bits int) (Format, bool) {
	f, ok := presetWidths[bits]
	return f, ok
}

var presetNames = []string{"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q8", "q4", "q3", "q2", "mixed"}

// PresetNames lists the presets.
func PresetNames() []string { return slices.Clone(presetNames) }

// Preset returns a named plan (see the package's plan documentation).
func Preset(name string) (Plan, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "mixed" {
		q := presetWidths
		return Plan{Default: q[4], Rules: []Rule{
			{Role: "embedding", Format: q[8]},
			{Role: "attention.query/key/value", Format: q[3]},
			{Role: "attention.output", Format: q[4]},
			{Role: "feed_forward", Format: q[2]},
			{Role: "lm_head", Format: q[4]},
		}}, nil
	}
	if slices.Contains(presetNames, n) {
		f, err := parsePlanFormat(n)
		return Plan{Default: f}, err
	}
	return Plan{}, fmt.Errorf("quant: unknown precision preset %q (want one of %s)", name, strings.Join(presetNames, ", "))
}

// parsePlanFormat reads a format as plans write it: a Format name, a width
// preset (q2, q3, q4, q8) or a number of bits (2, 3, 4, 8, 16, 32).
func parsePlanFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	digits, preset := strings.CutPrefix(s, "q")
	b, err := strconv.Atoi(digits)
	if err != nil {
		return ParseFormat(s)
	}
	if f, ok := presetWidths[b]; ok {
		return f, nil
	}
	switch {
	case preset:
		return Format{}, fmt.Errorf("quant: no preset %q (want q2, q3, q4 or q8)", s)
	case b == 16:
		return FormatF16, nil
	case b == 32:
		return FormatF32, nil
	}
	return Format{}, fmt.Errorf("quant: no %d-bit format (want 2, 3, 4, 8, 16 or 32 bits, or a format name)", b)
}

// ParsePlan reads a preset name, a format name (every matrix in it) or the
// compact text form written by Plan.String.
func ParsePlan(s string) (Plan, error) {
	items := strings.Split(s, ";")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	if len(items) == 1 && items[0] == "" {
		return Plan{}, errors.New("quant: empty precision plan")
	}
	var own Plan
	var base Plan
	var hasDefault bool
	for i, it := range items {
		key, val, ok := cutLast(it, "=")
		if !ok {
			if i > 0 {
				return Plan{}, fmt.Errorf("quant: plan item %d %q: want default=, role:ROLE= or match:GLOB= (a bare preset or format name may come first only)", i+1, it)
			}
			b, err := parseBase(it)
			if err != nil {
				return Plan{}, err
			}
			base = b
			continue
		}
		f, err := parsePlanFormat(val)
		if err != nil {
			return Plan{}, fmt.Errorf("quant: plan item %d %q: %w", i+1, it, err)
		}
		key = strings.TrimSpace(key)
		switch {
		case key == "default":
			if hasDefault {
				return Plan{}, fmt.Errorf("quant: plan item %d %q: a second default", i+1, it)
			}
			own.Default, hasDefault = f, true
		case strings.HasPrefix(key, "role:"):
			own.Rules = append(own.Rules, Rule{Role: strings.TrimSpace(key[len("role:"):]), Format: f})
		case strings.HasPrefix(key, "match:"):
			own.Rules = append(own.Rules, Rule{Match: strings.TrimSpace(key[len("match:"):]), Format: f})
		default:
			return Plan{}, fmt.Errorf("quant: plan item %d %q: want default=, role:ROLE= or match:GLOB=", i+1, it)
		}
	}
	return combine(own, hasDefault, base)
}

// parseBase reads a preset or format name.
func parseBase(s string) (Plan, error) {
	if p, err := Preset(s); err == nil {
		return p, nil
	}
	f, err := parsePlanFormat(s)
	if err != nil {
		return Plan{}, fmt.Errorf("quant: %q is not a precision preset (%s) or a format: %w", s, strings.Join(presetNames, ", "), err)
	}
	return Plan{Default: f}, nil
}

// combine puts own's rules before base's and checks the result.
func combine(own Plan, hasDefault bool, base Plan) (Plan, error) {
	p := Plan{Default: base.Default, Rules: slices.Concat(own.Rules, base.Rules)}
	if hasDefault {
		p.Default = own.Default
	}
	if len(p.Rules) == 0 {
		p.Rules = nil
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// PlanFromDocument reads a plan file's document, decoded from JSON or YAML
// (package planfile): a mapping with default, rules, base or roles.
func PlanFromDocument(doc any) (Plan, error) {
	top, ok := doc.(map[string]any)
	if !ok {
		return Plan{}, fmt.Errorf("quant: plan file: want a mapping with default, rules, base or roles, not %s", describeValue(doc))
	}
	var own, base Plan
	var hasDefault bool
	if v, ok := top["base"]; ok {
		s, ok := v.(string)
		if !ok {
			return Plan{}, fmt.Errorf("quant: plan file: base: want a preset name or plan, not %s", describeValue(v))
		}
		b, err := ParsePlan(s)
		if err != nil {
			return Plan{}, fmt.Errorf("quant: plan file: base: %w", err)
		}
		base = b
	}
	if v, ok := top["default"]; ok {
		f, err := fileFormat(v)
		if err != nil {
			return Plan{}, fmt.Errorf("quant: plan file: default: %w", err)
		}
		own.Default, hasDefault = f, true
	}
	if v, ok := top["rules"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return Plan{}, fmt.Errorf("quant: plan file: rules: want a list, not %s", describeValue(v))
		}
		for i, item := range list {
			r, err := fileRule(item)
			if err != nil {
				return Plan{}, fmt.Errorf("quant: plan file: rule %d%s", i+1, err)
			}
			own.Rules = append(own.Rules, r)
		}
	}
	var roles []Rule
	for k, v := range top {
		switch k {
		case "base", "default", "rules":
			continue
		}
		if _, err := expandRole(k); err != nil {
			return Plan{}, fmt.Errorf("quant: plan file: unknown key %q: not base, default, rules or a role (%s)", k, strings.Join(Roles(), ", "))
		}
		f, err := fileFormat(v)
		if err != nil {
			return Plan{}, fmt.Errorf("quant: plan file: role %s: %w", k, err)
		}
		roles = append(roles, Rule{Role: k, Format: f})
	}
	slices.SortFunc(roles, func(a, b Rule) int {
		da, db := strings.Contains(a.Role, "."), strings.Contains(b.Role, ".")
		if da != db {
			if da {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Role, b.Role)
	})
	own.Rules = append(own.Rules, roles...)
	return combine(own, hasDefault, base)
}

// fileRule reads one item of a plan file's rules; errors start with the
// rule's description (" (match …): problem").
func fileRule(item any) (Rule, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return Rule{}, fmt.Errorf(": want a mapping with match or role and format, not %s", describeValue(item))
	}
	var r Rule
	desc := ""
	for _, k := range []string{"match", "role"} {
		if v, ok := m[k]; ok {
			s, ok := v.(string)
			if !ok || s == "" {
				return Rule{}, fmt.Errorf(": %s: want a non-empty string, not %s", k, describeValue(v))
			}
			if k == "match" {
				r.Match = s
			} else {
				r.Role = s
			}
		}
	}
	if r.Match != "" || r.Role != "" {
		desc = " (" + r.describe() + ")"
	}
	for k := range m {
		if k != "match" && k != "role" && k != "format" {
			return Rule{}, fmt.Errorf("%s: unknown key %q (want match or role, and format)", desc, k)
		}
	}
	v, ok := m["format"]
	if !ok {
		return Rule{}, fmt.Errorf("%s: no format", desc)
	}
	f, err := fileFormat(v)
	if err != nil {
		return Rule{}, fmt.Errorf("%s: %w", desc, err)
	}
	r.Format = f
	if err := r.validate(); err != nil {
		return Rule{}, fmt.Errorf("%s: %w", desc, err)
	}
	return r, nil
}

// fileFormat reads a format given as a string or a number of bits.
func fileFormat(v any) (Format, error) {
	switch v := v.(type) {
	case string:
		return parsePlanFormat(v)
	case int, json.Number:
		return parsePlanFormat(fmt.Sprint(v))
	case float64:
		if v == float64(int(v)) {
			return parsePlanFormat(strconv.Itoa(int(v)))
		}
	}
	return Format{}, fmt.Errorf("want a format name or a number of bits, not %s", describeValue(v))
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%v", v)
}
