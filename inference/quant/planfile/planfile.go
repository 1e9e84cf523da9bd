// Package planfile reads quantization plan files, JSON or YAML, into a
// quant.Plan (see quant's doc for the file's shape). It keeps the YAML
// parser out of the packages the browser runtime links.
package planfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ipfs-accelerate/accel/inference/quant"
)

// Load reads a JSON (.json) or YAML (.yaml, .yml, other) plan file.
func Load(file string) (quant.Plan, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return quant.Plan{}, err
	}
	p, err := Parse(data, filepath.Ext(file))
	if err != nil {
		return quant.Plan{}, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

// Parse reads a plan file's contents; ext (".json", ".yaml", ".yml")
// picks the syntax, and anything but JSON is read as YAML.
func Parse(data []byte, ext string) (quant.Plan, error) {
	var doc any
	if strings.EqualFold(strings.TrimPrefix(ext, "."), "json") {
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return quant.Plan{}, fmt.Errorf("quant: plan file: %w", err)
		}
		if d.More() {
			return quant.Plan{}, errors.New("quant: plan file: data after the JSON object")
		}
	} else if err := yaml.Unmarshal(data, &doc); err != nil {
		return quant.Plan{}, fmt.Errorf("quant: plan file: %w", err)
	}
	return quant.PlanFromDocument(doc)
}
