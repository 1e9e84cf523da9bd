package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

func TestDevSplits(t *testing.T) {
	in := os.Getenv("DEV_SPLIT_IN")
	if in == "" {
		t.Skip()
	}
	var texts []string
	b, _ := os.ReadFile(in)
	json.Unmarshal(b, &texts)
	out := map[string][][]string{}
	for _, s := range texts {
		out["gpt2"] = append(out["gpt2"], splitGPT2(s))
		out["llama3"] = append(out["llama3"], splitLlama3(s))
		out["qwen2"] = append(out["qwen2"], splitQwen2(s))
		out["smollm"] = append(out["smollm"], splitDigitsThenGPT2(s))
	}
	f, _ := os.Create(os.Getenv("DEV_SPLIT_OUT"))
	w := bufio.NewWriter(f)
	json.NewEncoder(w).Encode(out)
	w.Flush()
	f.Close()
}

func TestDevLlama2C(t *testing.T) {
	in := os.Getenv("DEV_L2C_IN")
	if in == "" {
		t.Skip()
	}
	tk, err := LoadLlama2C("../../../shared/models/tok512.bin", 512)
	if err != nil {
		t.Fatal(err)
	}
	var texts [][]byte // base64 via json
	b, _ := os.ReadFile(in)
	json.Unmarshal(b, &texts)
	var out [][]int
	for _, s := range texts {
		ids := tk.Encode(string(s), true, false)
		out = append(out, ids)
		if got := tk.DecodeAll(ids); got != string(s) {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	f, _ := os.Create(os.Getenv("DEV_L2C_OUT"))
	json.NewEncoder(f).Encode(out)
	f.Close()
}
