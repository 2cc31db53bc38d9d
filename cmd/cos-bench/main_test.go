package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fields parses a "name k=v k=v" output line.
func fields(line string) (string, map[string]string) {
	f := strings.Fields(line)
	kv := map[string]string{}
	for _, p := range f[1:] {
		if k, v, ok := strings.Cut(p, "="); ok {
			kv[k] = v
		}
	}
	return f[0], kv
}

// One short run on LeNet: the summary and per-layer lines parse, the gemm
// FLOPs are LeNet's (issue 7: about 0.84 GFLOP per batch-64 iteration; the
// exact count is 2·64·(20·25·576 + 50·500·64 + 500·800 + 10·500) forward,
// twice that backward except conv1's bottom gradient), and a warmed-up
// step does not allocate per iteration.
func TestLeNetRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains LeNet for a few iterations")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := []string{"-net", filepath.Join(root, "testdata/lenet_train_test.prototxt"), "-iters", "5", "-runs", "2", "-warmup", "3", "-threads", "2"}
	if err := run(args, &out); err != nil {
		t.Fatal(err)
	}
	var summary map[string]string
	layers := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, kv := fields(line)
		if name != "cos_lenet" {
			t.Fatalf("line %q: want cos_lenet first", line)
		}
		if l, ok := kv["layer"]; ok {
			layers[l] = kv
		} else {
			summary = kv
		}
	}
	if summary == nil {
		t.Fatalf("no summary line in\n%s", out.String())
	}
	if summary["batch"] != "64" {
		t.Errorf("batch %q, want 64", summary["batch"])
	}
	fwd := 2.0 * 64 * (20*25*576 + 50*500*64 + 500*800 + 10*500)
	want := (fwd + 2*fwd - 2*64*20*25*576) / 1e9
	got, _ := strconv.ParseFloat(summary["gflop/iter"], 64)
	if math.Abs(got-want) > 1e-4 {
		t.Errorf("gflop/iter %v, want %.4f", got, want)
	}
	for _, k := range []string{"ms_per_iter", "cpu_ms/iter", "gflops"} {
		if v, err := strconv.ParseFloat(summary[k], 64); err != nil || v <= 0 {
			t.Errorf("%s = %q, want a positive number", k, summary[k])
		}
	}
	if a, err := strconv.ParseFloat(summary["allocs/iter"], 64); err != nil || a >= 1 {
		t.Errorf("allocs/iter = %q", summary["allocs/iter"])
	}
	for _, l := range []string{"conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss"} {
		kv, ok := layers[l]
		if !ok {
			t.Errorf("no line for layer %s", l)
			continue
		}
		if _, err := strconv.ParseFloat(kv["fwd_ms"], 64); err != nil {
			t.Errorf("layer %s: fwd_ms %q", l, kv["fwd_ms"])
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.prototxt")
	if err := os.WriteFile(bad, []byte(`name: "x" layer { name: "c" type: "Convolution" bottom: "data" top: "c" }`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-iters", "0"},
		{"-shape", "1,2"},
		{"-net", filepath.Join(dir, "missing.prototxt")},
		{"-net", bad},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
