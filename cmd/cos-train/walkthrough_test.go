package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cos "github.com/cos-project/cos"
)

func TestMain(m *testing.M) {
	// -clusterSize N re-runs this test binary as the executors.
	cos.RunExecutorIfChild()
	os.Exit(m.Run())
}

// TestWalkthrough is CaffeOnSpark's MNIST walkthrough in miniature: one
// command trains on 2 executors and writes features, a second tests the
// saved model.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	dir := t.TempDir()
	writeLMDB(t, filepath.Join(dir, "train_lmdb"), 64, [3]int{1, 4, 4})
	writeLMDB(t, filepath.Join(dir, "test_lmdb"), 23, [3]int{1, 4, 4})
	net := `layer { name: "data" type: "MemoryData" top: "data" top: "label" include { phase: TRAIN } source_class: "com.yahoo.ml.caffe.LMDB"
  memory_data_param { source: "file:train_lmdb" batch_size: 8 channels: 1 height: 4 width: 4 } }
layer { name: "data" type: "MemoryData" top: "data" top: "label" include { phase: TEST } source_class: "com.yahoo.ml.caffe.LMDB"
  memory_data_param { source: "file:test_lmdb" batch_size: 5 channels: 1 height: 4 width: 4 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`
	os.WriteFile(filepath.Join(dir, "net.prototxt"), []byte(net), 0o644)
	os.WriteFile(filepath.Join(dir, "solver.prototxt"), []byte(`net: "net.prototxt"
test_iter: 3 test_interval: 10 base_lr: 0.1 lr_policy: "fixed" display: 5 max_iter: 20 snapshot_prefix: "out/w" solver_mode: GPU
`), 0o644)
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run([]string{"-train", "-features", "accuracy,loss", "-label", "label", "-conf", "solver.prototxt",
		"-clusterSize", "2", "-model", "out/w.caffemodel", "-output", "out/features"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"Iteration 20", "Test net output #0: accuracy", "solver_mode: GPU"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	parts, _ := filepath.Glob("out/features/part-*")
	if len(parts) != 2 {
		t.Fatalf("%d part files, want 2", len(parts))
	}
	seen := map[string]bool{}
	for _, p := range parts {
		f, _ := os.Open(p)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct {
				SampleID string
				Accuracy []float64 `json:"accuracy"`
				Loss     []float64 `json:"loss"`
				Label    []float64 `json:"label"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if seen[row.SampleID] || len(row.Accuracy) != 1 || len(row.Loss) != 1 || len(row.Label) != 1 {
				t.Fatalf("bad or repeated row %s", sc.Text())
			}
			seen[row.SampleID] = true
		}
		f.Close()
	}
	if len(seen) != 23 {
		t.Fatalf("%d distinct samples, want 23", len(seen))
	}
	if _, err := os.Stat("out/features/_SUCCESS"); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-test", "-conf", "solver.prototxt", "-model", "out/w.caffemodel", "-output", "out/test"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-test exit %d\n%s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "accuracy: ") {
		t.Fatalf("-test printed %q", stdout.String())
	}
}
