package loader

import (
	"slices"
	"strings"
	"testing"
)

// planManifest is a manifest of len(layers) layers with the given layer
// sizes: tokenizer 1 byte, embed and head 10 each.
func planManifest(layers ...int64) *Manifest {
	m := &Manifest{}
	for _, name := range CriticalPath(len(layers)) {
		c := Component{Name: name, Priority: Priority(name), Size: 10}
		if name == ComponentTokenizer {
			c.Size = 1
		}
		if i, ok := LayerOf(name); ok {
			c.Size = layers[i]
		}
		m.Components = append(m.Components, c)
	}
	return m
}

// localSet reports the named components as local.
func localSet(names ...string) func(string) bool {
	return func(name string) bool { return slices.Contains(names, name) }
}

func TestPlan(t *testing.T) {
	uniform := planManifest(100, 100, 100, 100) // 421 bytes in all
	for _, c := range []struct {
		name   string
		m      *Manifest
		opts   PlanOptions
		fetch  string // component names, comma-separated
		remote []int
		viable int
	}{
		{"pin order", uniform, PlanOptions{},
			"tokenizer,embed,layer.0,layer.1,layer.2,layer.3,head", nil, 7},
		{"whole model within the budget", uniform, PlanOptions{Budget: 421},
			"tokenizer,embed,layer.0,layer.1,layer.2,layer.3,head", nil, 7},
		{"no offload, some local", uniform, PlanOptions{Local: localSet("tokenizer", "layer.1")},
			"embed,layer.0,layer.2,layer.3,head", nil, 5},
		{"minimum viable first", uniform, PlanOptions{Offload: true},
			"tokenizer,embed,head,layer.0,layer.1,layer.2,layer.3", nil, 3},
		{"layers while they fit", uniform, PlanOptions{Offload: true, Budget: 221},
			"tokenizer,embed,head,layer.0,layer.1", []int{2, 3}, 3},
		{"one byte short", uniform, PlanOptions{Offload: true, Budget: 220},
			"tokenizer,embed,head,layer.0", []int{1, 2, 3}, 3},
		{"budget below the minimum viable model", uniform, PlanOptions{Offload: true, Budget: 5},
			"tokenizer,embed,head", []int{0, 1, 2, 3}, 3},
		{"a small layer after one that does not fit stays remote", planManifest(100, 300, 50), PlanOptions{Offload: true, Budget: 181},
			"tokenizer,embed,head,layer.0", []int{1, 2}, 3},
		{"local weights count toward the budget", uniform, PlanOptions{Offload: true, Budget: 221, Local: localSet("embed", "layer.0")},
			"tokenizer,head,layer.1", []int{2, 3}, 2},
		{"viable before any fetch", uniform, PlanOptions{Offload: true, Local: localSet("tokenizer", "embed", "head")},
			"layer.0,layer.1,layer.2,layer.3", nil, 0},
		{"a peer runs the head too: the tokenizer is viable", uniform, PlanOptions{OffloadHead: true},
			"tokenizer,embed,head,layer.0,layer.1,layer.2,layer.3", nil, 1},
		{"a peer runs the head, the tokenizer local", uniform, PlanOptions{OffloadHead: true, Local: localSet("tokenizer")},
			"embed,head,layer.0,layer.1,layer.2,layer.3", nil, 0},
		{"a peer runs the head, within a budget", uniform, PlanOptions{OffloadHead: true, Budget: 221},
			"tokenizer,embed,head,layer.0,layer.1", []int{2, 3}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Plan(c.m, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, comp := range p.Fetch {
				names = append(names, comp.Name)
			}
			if got := strings.Join(names, ","); got != c.fetch {
				t.Errorf("fetch %s, want %s", got, c.fetch)
			}
			if !slices.Equal(p.Remote, c.remote) {
				t.Errorf("remote layers %v, want %v", p.Remote, c.remote)
			}
			if p.Viable != c.viable {
				t.Errorf("viable after %d components, want %d", p.Viable, c.viable)
			}
		})
	}
}

// Without a peer, a model over the budget cannot load: local components
// count toward the budget too.
func TestPlanOverBudget(t *testing.T) {
	m := planManifest(1<<20, 1<<20, 1<<20)
	for _, opts := range []PlanOptions{
		{Budget: m.Size() - 1},
		{Budget: 2 << 20, Local: localSet("layer.0", "layer.1", "layer.2")},
	} {
		p, err := Plan(m, opts)
		if err == nil || !strings.Contains(err.Error(), "exceed the budget of") {
			t.Errorf("%+v: plan %+v, error %v", opts, p, err)
		}
	}
}

func TestLayerOf(t *testing.T) {
	for name, want := range map[string]int{"layer.0": 0, "layer.7": 7, "layer.1023": 1023} {
		if got, ok := LayerOf(name); !ok || got != want {
			t.Errorf("LayerOf(%q) = %d, %v", name, got, ok)
		}
		if got, ok := (Component{Name: name}).Layer(); !ok || got != want {
			t.Errorf("Component %q: Layer() = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"head", "embed", "tokenizer", "layer.", "layer.01", "layer.-1", "layer.+1", "layer.1024", "layers.1", "layer.1 "} {
		if got, ok := LayerOf(name); ok {
			t.Errorf("LayerOf(%q) = %d, a layer", name, got)
		}
	}
}
