package quant

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func FuzzZZPlanDbg(f *testing.F) {
	f.Add([]byte(briefYAML), ".yaml")
	f.Add([]byte(`{"default": "int4g64", "rules": [{"match": "blk.*", "format": 3}]}`), ".json")
	f.Add([]byte("base: 'default=q2; match:a=b=int3g32'\n"), ".yaml")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		tm := time.AfterFunc(2*time.Second, func() {
			os.WriteFile(fmt.Sprintf("/tmp/slow-%d.txt", time.Now().UnixNano()), []byte(fmt.Sprintf("%q\n%q\n", data, ext)), 0o644)
			panic("slow")
		})
		defer tm.Stop()
		p, err := ParsePlanFile(data, ext)
		if err != nil {
			return
		}
		q, err := ParsePlan(p.String())
		_ = q
		for _, tt := range planTensors {
			p.FormatFor(tt.name, tt.shape)
		}
	})
}
