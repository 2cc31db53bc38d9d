//go:build hdf5

package solver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/hdf5"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// A run stopped at iteration 13 with HDF5 snapshots and restored from its
// .solverstate.h5 ends bit-identical to an uninterrupted run, for solvers
// with one and two history sets and a multistep lr (current_step).
func TestHDF5RestoreBitIdentical(t *testing.T) {
	for _, c := range []struct{ name, sp string }{
		{"SGD-multistep", `type: "SGD" momentum: 0.9 lr_policy: "multistep" gamma: 0.5 stepvalue: 5 stepvalue: 6 stepvalue: 7 base_lr: 0.05`},
		{"Adam-itersize", `type: "Adam" momentum: 0.9 momentum2: 0.999 lr_policy: "fixed" iter_size: 2 base_lr: 0.01`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			base := c.sp + ` weight_decay: 0.001 random_seed: 5 test_iter: 2 test_interval: 10 `
			straight := newSolver(t, base+` max_iter: 25 snapshot_after_train: false`, 10, Options{})
			if err := straight.Solve(context.Background()); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(dir, "snap")
			var log logBuf
			first := newSolver(t, base+fmt.Sprintf(` max_iter: 13 snapshot_prefix: %q snapshot_format: HDF5`, prefix), 10, Options{Logf: log.logf})
			if err := first.Solve(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := log.count(`HDF5 not supported|BINARYPROTO`); n != 0 {
				t.Errorf("%d HDF5 warnings in a build with HDF5", n)
			}
			if log.count(`^Snapshotting to HDF5 file .*snap_iter_13\.caffemodel\.h5$`) != 1 ||
				log.count(`^Snapshotting solver state to HDF5 file .*snap_iter_13\.solverstate\.h5$`) != 1 {
				t.Errorf("snapshot log lines missing:\n%s", strings.Join(log.lines, "\n"))
			}
			if got := dirNames(t, dir); got != "[snap_iter_13.caffemodel.h5 snap_iter_13.solverstate.h5]" {
				t.Fatalf("files %s", got)
			}
			resumed := newSolver(t, base+` max_iter: 25 snapshot_after_train: false`, 10, Options{})
			if err := resumed.Restore(prefix + "_iter_13.solverstate.h5"); err != nil {
				t.Fatal(err)
			}
			if resumed.Iter() != 13 {
				t.Fatalf("restored iter %d", resumed.Iter())
			}
			if err := resumed.Solve(context.Background()); err != nil {
				t.Fatal(err)
			}
			ws, wr := weights(straight), weights(resumed)
			for i := range ws {
				for j := range ws[i] {
					if math.Float32bits(ws[i][j]) != math.Float32bits(wr[i][j]) {
						t.Fatalf("param %d[%d]: straight %.9g, restored %.9g", i, j, ws[i][j], wr[i][j])
					}
				}
			}
		})
	}
}

func dirNames(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return fmt.Sprint(names)
}

// h5entry is one object of an HDF5 file as the layout tests compare it.
type h5entry struct {
	Path  string    `json:"path"`
	Kind  string    `json:"kind"`  // "group", "float32", "int32", "string"
	Shape []int     `json:"shape"` // datasets only
	Str   string    `json:"str"`   // strings
	Vals  []float64 `json:"vals"`  // numbers
}

// listH5Python lists a file's objects through h5py, a reader independent of
// cos's own; the test skips that part when Debian's python3-h5py is not
// installed (apt-get install -y python3-h5py).
const listH5Python = `
import h5py, json, sys, numpy as np
out = []
def visit(name, obj):
    if isinstance(obj, h5py.Group):
        out.append({"path": name, "kind": "group"})
        return
    e = {"path": name, "shape": list(obj.shape)}
    dt = obj.dtype
    if dt.kind == "S":
        if h5py.check_string_dtype(dt) is None or h5py.check_string_dtype(dt).length is None:
            e["kind"] = "bad-string"
        else:
            e["kind"] = "string"
            e["str"] = obj[()].decode()
    elif dt == np.dtype("<f4"):
        e["kind"] = "float32"
        e["vals"] = [float(v) for v in np.asarray(obj[()]).ravel()]
    elif dt == np.dtype("<i4"):
        e["kind"] = "int32"
        e["vals"] = [float(v) for v in np.asarray(obj[()]).ravel()]
    else:
        e["kind"] = str(dt)
    out.append(e)
with h5py.File(sys.argv[1], "r") as f:
    f.visititems(visit)
json.dump(out, sys.stdout)
`

const python = "/usr/bin/python3"

func haveH5py() bool { return exec.Command(python, "-c", "import h5py").Run() == nil }

func h5py(t *testing.T) string {
	t.Helper()
	if !haveH5py() {
		t.Skip("Debian's python3-h5py is not installed: apt-get install -y python3-h5py")
	}
	return python
}

func listH5(t *testing.T, path string) map[string]h5entry {
	t.Helper()
	out, err := exec.Command(h5py(t), "-c", listH5Python, path).Output()
	if err != nil {
		t.Fatalf("h5py listing %s: %v", path, err)
	}
	var list []h5entry
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("h5py listing: %v\n%s", err, out)
	}
	m := map[string]h5entry{}
	for _, e := range list {
		m[e.Path] = e
	}
	return m
}

func f32s(v []float64) []float32 {
	r := make([]float32, len(v))
	for i, x := range v {
		r[i] = float32(x)
	}
	return r
}

// The .caffemodel.h5 and .solverstate.h5 hold Caffe's layout, read by h5py:
// one group per layer under data (empty for layers without params),
// datasets 0, 1, ... with each param's shape and exact float32 values,
// diff with snapshot_diff, and iter / current_step as int32 (1,), a
// fixed-length learned_net and history/<i> shaped like the params. Without
// python3-h5py, names and shapes are checked through the binding instead.
func TestHDF5LayoutH5py(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "tiny")
	s := newSolver(t, fmt.Sprintf(`type: "Adam" base_lr: 0.01 lr_policy: "multistep" gamma: 0.5 stepvalue: 2 random_seed: 3
		max_iter: 4 snapshot_prefix: %q snapshot_format: HDF5 snapshot_diff: true`, prefix), 10, Options{})
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	model, state := prefix+"_iter_4.caffemodel.h5", prefix+"_iter_4.solverstate.h5"

	want := map[string]h5entry{"data": {Kind: "group"}, "diff": {Kind: "group"}}
	n := s.Net()
	for i, name := range n.LayerNames() {
		for _, top := range []string{"data", "diff"} {
			want[top+"/"+name] = h5entry{Kind: "group"}
			for k, b := range n.Layers()[i].Params() {
				vals := b.Data
				if top == "diff" {
					vals = b.Diff
				}
				want[fmt.Sprintf("%s/%s/%d", top, name, k)] = h5entry{Kind: "float32", Shape: b.Shape(), Vals: f64s(vals)}
			}
		}
	}
	if _, ok := want["data/ip2/1"]; !ok || want["data/relu1"].Kind != "group" {
		t.Fatalf("the expected layout lacks data/ip2/1 or the data/relu1 group: %v", want)
	}
	checkLayout(t, model, want)

	want = map[string]h5entry{
		"iter":         {Kind: "int32", Shape: []int{1}, Vals: []float64{4}},
		"current_step": {Kind: "int32", Shape: []int{1}, Vals: []float64{1}},
		"learned_net":  {Kind: "string", Shape: []int{}, Str: model},
		"history":      {Kind: "group"},
	}
	params := n.LearnableParams()
	for j, h := range s.history {
		p := params[j%len(params)]
		want[fmt.Sprintf("history/%d", j)] = h5entry{Kind: "float32", Shape: p.Blob.Shape(), Vals: f64s(h)}
	}
	if len(s.history) != 2*len(params) {
		t.Fatalf("Adam keeps %d history blobs for %d params", len(s.history), len(params))
	}
	checkLayout(t, state, want)
}

func f64s(v []float32) []float64 {
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(x)
	}
	return r
}

// checkLayout compares file with want through h5py, or, when h5py is
// missing, its object names and shapes through the binding.
func checkLayout(t *testing.T, file string, want map[string]h5entry) {
	t.Helper()
	if haveH5py() {
		compareEntries(t, file, listH5(t, file), want)
		return
	}
	t.Logf("python3-h5py not installed: checking %s's names and shapes through the binding only", filepath.Base(file))
	var w []string
	for p, e := range want {
		if e.Kind == "group" {
			w = append(w, p+":group")
		} else {
			w = append(w, fmt.Sprintf("%s:%v", p, e.Shape))
		}
	}
	sort.Strings(w)
	if got := walkH5(t, file); got != fmt.Sprint(w) {
		t.Errorf("%s layout\n got %s\nwant %v", filepath.Base(file), got, w)
	}
}

func compareEntries(t *testing.T, file string, got, want map[string]h5entry) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		w := want[p]
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing %s", filepath.Base(file), p)
			continue
		}
		if g.Kind != w.Kind || (w.Kind != "group" && fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape)) || g.Str != w.Str {
			t.Errorf("%s: %s is %s %v %q, want %s %v %q", filepath.Base(file), p, g.Kind, g.Shape, g.Str, w.Kind, w.Shape, w.Str)
			continue
		}
		if len(g.Vals) != len(w.Vals) {
			t.Errorf("%s: %s holds %d values, want %d", filepath.Base(file), p, len(g.Vals), len(w.Vals))
			continue
		}
		for i := range w.Vals {
			if math.Float32bits(float32(g.Vals[i])) != math.Float32bits(float32(w.Vals[i])) {
				t.Errorf("%s: %s[%d] = %g, want %g", filepath.Base(file), p, i, g.Vals[i], w.Vals[i])
				break
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected object %s", filepath.Base(file), p)
		}
	}
}

// Files written by another HDF5 writer (h5py, as Caffe users' scripts do)
// load: a model with a float64 dataset, an extra layer and a param-less
// layer's group (CopyTrainedLayersFromHDF5, by layer name), and a state
// with an int64 iter.
func TestHDF5ReadsH5pyFiles(t *testing.T) {
	py := h5py(t)
	dir := t.TempDir()
	src := newSolver(t, `base_lr: 0.01 lr_policy: "fixed" random_seed: 7`, 10, Options{})
	w := weights(src) // ip1 weight, ip1 bias, ip2 weight, ip2 bias
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.caffemodel.h5")
	state := filepath.Join(dir, "m.solverstate.h5")
	script := `
import h5py, json, sys, numpy as np
w = json.loads(sys.argv[3])
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("data/ip1/0", data=np.array(w[0], dtype="<f4").reshape(16, 8))
    f.create_dataset("data/ip1/1", data=np.array(w[1], dtype="<f8"))
    f.create_dataset("data/ip2/0", data=np.array(w[2], dtype="<f4").reshape(3, 16))
    f.create_dataset("data/ip2/1", data=np.array(w[3], dtype="<f4"))
    f.create_group("data/relu1")
    f.create_dataset("data/unknown/0", data=np.zeros((2, 2), dtype="<f4"))
with h5py.File(sys.argv[2], "w") as f:
    f.create_dataset("iter", data=np.array([7], dtype="<i8"))
    f.create_dataset("current_step", data=np.array([0], dtype="<i4"))
    f.create_dataset("learned_net", data=np.bytes_("m.caffemodel.h5"))
    for i, x in enumerate(w):
        f.create_dataset("history/%d" % i, data=np.full(len(x), 0.5, dtype="<f4").reshape([(16, 8), (16,), (3, 16), (3,)][i]))
`
	if out, err := exec.Command(py, "-c", script, model, state, string(js)).CombinedOutput(); err != nil {
		t.Fatalf("h5py writer: %v\n%s", err, out)
	}
	var log logBuf
	dst := newSolver(t, `base_lr: 0.01 lr_policy: "fixed" random_seed: 8`, 10, Options{Logf: log.logf})
	if equalF32(weights(dst)[0], w[0]) {
		t.Fatal("seeds 7 and 8 filled the same weights; the test could not fail")
	}
	if err := dst.LoadWeights(model); err != nil {
		t.Fatal(err)
	}
	for i, got := range weights(dst) {
		if !equalF32(got, w[i]) {
			t.Errorf("param %d not loaded from the h5py model", i)
		}
	}
	if log.count(`^Ignoring source layer unknown$`) != 1 {
		t.Errorf("unknown layer not reported:\n%s", strings.Join(log.lines, "\n"))
	}

	// A state with an int64 iter and a relative learned_net (found next to
	// the state file) restores.
	r := newSolver(t, `base_lr: 0.01 momentum: 0.9 lr_policy: "fixed" random_seed: 9`, 10, Options{})
	if err := r.Restore(state); err != nil {
		t.Fatal(err)
	}
	if r.Iter() != 7 || !equalF32(weights(r)[2], w[2]) {
		t.Errorf("restored iter %d, ip2 loaded %v", r.Iter(), equalF32(weights(r)[2], w[2]))
	}
	for j, h := range r.history {
		if len(h) == 0 || h[0] != 0.5 || h[len(h)-1] != 0.5 {
			t.Errorf("history %d not restored", j)
		}
	}
}

// sharedNet shares ip_a's params with ip_b by name (both 8×8).
const sharedNet = `
name: "shared"
layer { name: "data" type: "Data" top: "data" top: "label" data_param { source: "train" batch_size: 10 } }
layer { name: "ip_a" type: "InnerProduct" bottom: "data" top: "a" param { name: "sw" } param { name: "sb" }
        inner_product_param { num_output: 8 weight_filler { type: "xavier" } } }
layer { name: "ip_b" type: "InnerProduct" bottom: "a" top: "b" param { name: "sw" } param { name: "sb" }
        inner_product_param { num_output: 8 weight_filler { type: "xavier" } } }
layer { name: "ip2" type: "InnerProduct" bottom: "b" top: "ip2" inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`

func newSharedSolver(t *testing.T, sp string) *Solver {
	t.Helper()
	s, err := New(solverParam(t, sp+fmt.Sprintf(` net_param { %s }`, strings.ReplaceAll(sharedNet, `name: "shared"`, ``))), nil, Options{Sources: opener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A param shared by name is written once, under its owner, as Caffe does,
// and loading such a file keeps the sharing (the user's missing datasets
// are no error).
func TestHDF5SharedParams(t *testing.T) {
	dir := t.TempDir()
	s := newSharedSolver(t, `base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" random_seed: 1 max_iter: 3`)
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "shared.caffemodel.h5")
	if err := s.SaveModel(model); err != nil {
		t.Fatal(err)
	}
	got := walkH5(t, model)
	want := "[data/data:group data/ip2/0:[3 8] data/ip2/1:[3] data/ip2:group data/ip_a/0:[8 8] data/ip_a/1:[8] data/ip_a:group data/ip_b:group data/loss:group data:group]"
	if got != want {
		t.Errorf("layout\n got %s\nwant %s", got, want)
	}
	r := newSharedSolver(t, `base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" random_seed: 2`)
	if err := r.LoadWeights(model); err != nil {
		t.Fatal(err)
	}
	ws, wr := weights(s), weights(r)
	if len(ws) != 4 || len(wr) != 4 {
		t.Fatalf("%d and %d learnable params, want 4 (ip_a's two shared with ip_b)", len(ws), len(wr))
	}
	for i := range ws {
		if !equalF32(ws[i], wr[i]) {
			t.Errorf("param %d differs after loading", i)
		}
	}
	// The user still shares the owner's storage.
	pa, pb := r.Net().LayerByName("ip_a").Params(), r.Net().LayerByName("ip_b").Params()
	pa[0].Data[0] += 1
	if pb[0].Data[0] != pa[0].Data[0] {
		t.Error("ip_b no longer shares ip_a's weights after loading")
	}
}

// walkH5 lists a file through the binding: "path:group" or "path:[dims]",
// sorted.
func walkH5(t *testing.T, path string) string {
	t.Helper()
	h5mu.Lock()
	defer h5mu.Unlock()
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var walk func(g *hdf5.CommonFG, prefix string)
	walk = func(g *hdf5.CommonFG, prefix string) {
		n, err := g.NumObjects()
		if err != nil {
			t.Fatal(err)
		}
		for i := uint(0); i < n; i++ {
			name, _ := g.ObjectNameByIndex(i)
			typ, _ := g.ObjectTypeByIndex(i)
			p := prefix + name
			if typ == hdf5.H5G_GROUP {
				out = append(out, p+":group")
				sub, err := g.OpenGroup(name)
				if err != nil {
					t.Fatal(err)
				}
				walk(&sub.CommonFG, p+"/")
				sub.Close()
				continue
			}
			ds, err := g.OpenDataset(name)
			if err != nil {
				t.Fatal(err)
			}
			sp := ds.Space()
			dims := []uint{}
			if sp.SimpleExtentNDims() > 0 { // the binding indexes dims[0]
				dims, _, _ = sp.SimpleExtentDims()
			}
			out = append(out, fmt.Sprintf("%s:%v", p, dims))
			sp.Close()
			ds.Close()
		}
	}
	walk(&f.CommonFG, "")
	sort.Strings(out)
	return fmt.Sprint(out)
}

// Bad input gets an error naming the file and what is wrong, never a panic
// or libhdf5's error stack.
func TestHDF5Errors(t *testing.T) {
	dir := t.TempDir()
	s := newSolver(t, `base_lr: 0.01 lr_policy: "fixed" random_seed: 2`, 10, Options{})
	notH5 := filepath.Join(dir, "x.caffemodel.h5")
	if err := os.WriteFile(notH5, []byte("not hdf5"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadWeights(notH5); err == nil || !strings.Contains(err.Error(), "not an HDF5 file") {
		t.Errorf("non-HDF5 model: %v", err)
	}
	if err := s.Restore(filepath.Join(dir, "missing.solverstate.h5")); err == nil || !strings.Contains(err.Error(), "missing.solverstate.h5") {
		t.Errorf("missing state: %v", err)
	}
	// A model for another net: shape mismatch names the layer.
	other := filepath.Join(dir, "shared.caffemodel.h5")
	sh := newSharedSolver(t, `base_lr: 0.05 lr_policy: "fixed" random_seed: 1`)
	if err := sh.SaveModel(other); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadWeights(other); err == nil || !strings.Contains(err.Error(), "ip2") {
		t.Errorf("mismatched model: %v", err)
	}
	// A state file is not a model.
	st := filepath.Join(dir, "s.solverstate.h5")
	if err := hdf5Files.writeState(st, &caffepb.SolverState{}); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadWeights(st); err == nil || !strings.Contains(err.Error(), `no group "data"`) {
		t.Errorf("state as model: %v", err)
	}
	// Layer names HDF5 cannot hold are refused when the solver is built,
	// not at the first snapshot.
	np := tinyNetParam(t, 10)
	for _, l := range np.Layer {
		if l.GetName() == "ip1" {
			l.Name = newString("block/ip1")
		}
	}
	_, err := New(solverParam(t, `base_lr: 0.01 lr_policy: "fixed" snapshot_format: HDF5`), np, Options{Sources: opener})
	if err == nil || !strings.Contains(err.Error(), `"block/ip1"`) || !strings.Contains(err.Error(), "BINARYPROTO") {
		t.Errorf("layer name with '/': %v", err)
	}
	// No temporary files are left behind.
	for _, e := range strings.Fields(strings.Trim(dirNames(t, dir), "[]")) {
		if strings.Contains(e, ".tmp-") {
			t.Errorf("temporary file left: %s", e)
		}
	}
}

func newString(s string) *string { return &s }
