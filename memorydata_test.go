package cos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaffeOnSparkMemoryDataSolver trains CaffeOnSpark's style of LeNet
// (type "MemoryData", source_class "com.yahoo.ml.caffe.LMDB", file: URLs,
// solver_mode GPU) from testdata, shortened, on real MNIST.
func TestCaffeOnSparkMemoryDataSolver(t *testing.T) {
	if testing.Short() {
		t.Skip("trains LeNet")
	}
	wd, _ := os.Getwd()
	if _, err := os.Stat(filepath.Join(wd, "data", "mnist_train_lmdb", "data.mdb")); err != nil {
		needed(t, "MNIST LMDBs in data/ (make data)")
	}
	dir := t.TempDir()
	solver, err := os.ReadFile(filepath.Join(wd, "testdata", "lenet_memory_solver.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(solver)
	s = strings.Replace(s, "max_iter: 10000", "max_iter: 60", 1)
	s = strings.Replace(s, "test_interval: 500", "test_interval: 60", 1)
	s = strings.Replace(s, "display: 100", "display: 20", 1)
	s = strings.Replace(s, `snapshot_prefix: "out/mnist_lenet"`, `snapshot_prefix: "`+filepath.Join(dir, "mnist_lenet")+`"`, 1)
	// The net file stays in testdata: the solver's net: path is found next
	// to the solver file only, so point at it absolutely.
	s = strings.Replace(s, `net: "lenet_memory_train_test.prototxt"`, `net: "`+filepath.Join(wd, "testdata", "lenet_memory_train_test.prototxt")+`"`, 1)
	if s == string(solver) {
		t.Fatal("solver text did not change: testdata/lenet_memory_solver.prototxt was edited?")
	}
	sp := filepath.Join(dir, "solver.prototxt")
	os.WriteFile(sp, []byte(s), 0o644)
	var log strings.Builder
	var last Progress
	res, err := Train(context.Background(), Config{Solver: sp, Model: filepath.Join(dir, "m.caffemodel"), Log: &log, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if res.Iter != 60 || last.Iter != 60 {
		t.Fatalf("trained %d iterations", res.Iter)
	}
	if !strings.Contains(log.String(), "GPU") {
		t.Errorf("no warning about solver_mode GPU in the log:\n%s", log.String())
	}
	if acc := res.Test["accuracy"]; acc < 0.5 {
		t.Errorf("accuracy after 60 iterations = %v, want > 0.5\n%s", acc, log.String())
	}
}
