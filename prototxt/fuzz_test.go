package prototxt

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseNet checks that no input makes parsing, upgrading, filtering or
// path rewriting panic. Run: go test ./prototxt -fuzz=FuzzParseNet
func FuzzParseNet(f *testing.F) {
	for _, name := range []string{"lenet_train_test.prototxt", "lenet_memory_train_test.prototxt", "lenet_deploy.prototxt"} {
		if b, err := os.ReadFile(filepath.Join(testdata, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(v1Net))
	f.Add([]byte(v0Net))
	f.Add([]byte(filterNet))
	f.Add([]byte(`layers { layer { name: "p" type: "padding" pad: 1 } bottom: "a" top: "p" } layers { layer { type: "conv" } bottom: "p" }`))
	f.Add([]byte(`input: "a" input_shape { dim: 1 } layer { type: "BatchNorm" param {} param {} param {} }`))
	f.Add([]byte("layer {\n  name: 'x\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		np, err := ParseNet(data, "fuzz.prototxt")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		FilterNet(np, nil)
		_ = ResolveDataPaths(np, dir)
		if _, err := UpgradeNet(np); err != nil {
			t.Fatalf("upgraded net does not upgrade again cleanly: %v", err)
		}
	})
}
