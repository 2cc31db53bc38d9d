package prototxt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolvePath(t *testing.T) {
	root := t.TempDir()
	cwd := filepath.Join(root, "work")
	solverDir := filepath.Join(root, "solver")
	mkdirs(t,
		filepath.Join(cwd, "both_lmdb"),
		filepath.Join(solverDir, "both_lmdb"),
		filepath.Join(solverDir, "only_solver_lmdb"),
		filepath.Join(cwd, "only_cwd_lmdb"),
		filepath.Join(root, "abs_lmdb"),
	)
	t.Chdir(cwd)

	tests := []struct {
		name    string
		in      string
		dir     string
		want    string
		wantErr []string // substrings of the error
		is      error
	}{
		{"cwd wins over solver dir", "both_lmdb", solverDir, filepath.Join(cwd, "both_lmdb"), nil, nil},
		{"falls back to solver dir", "only_solver_lmdb", solverDir, filepath.Join(solverDir, "only_solver_lmdb"), nil, nil},
		{"cwd only", "only_cwd_lmdb", solverDir, filepath.Join(cwd, "only_cwd_lmdb"), nil, nil},
		{"relative solver dir", "only_solver_lmdb", "../solver", filepath.Join(solverDir, "only_solver_lmdb"), nil, nil},
		{"trailing slash", "only_solver_lmdb/", solverDir, filepath.Join(solverDir, "only_solver_lmdb"), nil, nil},
		{"absolute", filepath.Join(root, "abs_lmdb"), solverDir, filepath.Join(root, "abs_lmdb"), nil, nil},
		{"file:/abs", "file:" + filepath.Join(root, "abs_lmdb"), "", filepath.Join(root, "abs_lmdb"), nil, nil},
		{"file:///abs", "file://" + filepath.Join(root, "abs_lmdb"), "", filepath.Join(root, "abs_lmdb"), nil, nil},
		{"file://localhost/abs", "file://localhost" + filepath.Join(root, "abs_lmdb"), "", filepath.Join(root, "abs_lmdb"), nil, nil},
		{"file:rel", "file:only_solver_lmdb", solverDir, filepath.Join(solverDir, "only_solver_lmdb"), nil, nil},
		{"FILE: upper case", "FILE:only_cwd_lmdb", "", filepath.Join(cwd, "only_cwd_lmdb"), nil, nil},
		{"missing lists places", "nowhere_lmdb", solverDir, "",
			[]string{filepath.Join(cwd, "nowhere_lmdb"), filepath.Join(solverDir, "nowhere_lmdb"), "nowhere_lmdb"}, ErrNotFound},
		{"missing absolute", filepath.Join(root, "gone"), solverDir, "", []string{filepath.Join(root, "gone")}, ErrNotFound},
		{"hdfs", "hdfs:///projects/mnist_train_lmdb", solverDir, "", []string{"hdfs", "mount", "copy"}, ErrRemotePath},
		{"hdfs with host", "hdfs://namenode:8020/data", solverDir, "", []string{"hdfs"}, ErrRemotePath},
		{"wasb", "wasb://c@a.blob.core.windows.net/x", "", "", []string{"wasb"}, ErrRemotePath},
		{"s3", "s3://bucket/key", "", "", []string{"s3"}, ErrRemotePath},
		{"file URL naming another host", "file://otherhost/data", "", "", []string{"otherhost"}, ErrRemotePath},
		{"empty", "", solverDir, "", []string{"empty"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolvePath(tc.in, tc.dir)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ResolvePath(%q, %q): %v", tc.in, tc.dir, err)
				}
				if got != tc.want {
					t.Fatalf("ResolvePath(%q, %q) = %q, want %q", tc.in, tc.dir, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolvePath(%q) = %q, want error", tc.in, got)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

// copyTestdata copies testdata files into dir.
func copyTestdata(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(testdata, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadSolverAndNet(t *testing.T) {
	tests := []struct {
		solver, net string
		sources     []string // data dirs to create next to the solver
	}{
		{"lenet_solver.prototxt", "lenet_train_test.prototxt", []string{"data/mnist_train_lmdb", "data/mnist_test_lmdb"}},
		{"lenet_memory_solver.prototxt", "lenet_memory_train_test.prototxt", []string{"data/mnist_train_lmdb", "data/mnist_test_lmdb"}},
	}
	for _, tc := range tests {
		t.Run(tc.solver, func(t *testing.T) {
			root := t.TempDir()
			sdir := filepath.Join(root, "job")
			mkdirs(t, sdir, filepath.Join(root, "elsewhere"))
			copyTestdata(t, sdir, tc.solver, tc.net)
			for _, s := range tc.sources {
				mkdirs(t, filepath.Join(sdir, s))
			}
			t.Chdir(filepath.Join(root, "elsewhere"))

			sp, net, err := LoadSolverAndNet(filepath.Join("..", "job", tc.solver))
			if err != nil {
				t.Fatal(err)
			}
			if sp.GetSnapshotPrefix() == "" || filepath.IsAbs(sp.GetSnapshotPrefix()) {
				t.Errorf("snapshot_prefix rewritten: %q", sp.GetSnapshotPrefix())
			}
			if sp.GetNet() != tc.net {
				t.Errorf("solver net field changed to %q", sp.GetNet())
			}
			var got []string
			for _, l := range net.Layer {
				if p := l.GetDataParam(); p != nil {
					got = append(got, p.GetSource())
				}
				if p := l.GetMemoryDataParam(); p != nil {
					got = append(got, p.GetSource())
				}
			}
			want := []string{filepath.Join(sdir, tc.sources[0]), filepath.Join(sdir, tc.sources[1])}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("sources = %q, want %q", got, want)
			}
		})
	}
}

func TestLoadSolverAndNetErrors(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	write := func(name, text string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	netText := `name: "n"
layer { name: "train_data" type: "Data" top: "data" top: "label"
  include { phase: TRAIN } data_param { source: "missing_lmdb" batch_size: 4 } }
`
	write("n.prototxt", netText)
	write("hdfs.prototxt", `layer { name: "d" type: "MemoryData" memory_data_param { source: "hdfs:///x/y" } }`)
	mkdirs(t, filepath.Join(root, "ok_lmdb"))
	write("mean.prototxt", `layer { name: "d" type: "Data" data_param { source: "ok_lmdb" } transform_param { mean_file: "mean.binaryproto" } }`)

	tests := []struct {
		name    string
		solver  string
		wantErr []string
	}{
		{"missing source names layer and places", `net: "n.prototxt"`, []string{`"train_data"`, "data_param.source", filepath.Join(root, "missing_lmdb")}},
		{"hdfs source", `net: "hdfs.prototxt"`, []string{`"d"`, "hdfs", "mount"}},
		{"missing mean file", `net: "mean.prototxt"`, []string{`"d"`, "transform_param.mean_file", "mean.binaryproto"}},
		{"missing net file", `net: "nonet.prototxt"`, []string{"net", "nonet.prototxt", "not found"}},
		{"no net", `base_lr: 0.1`, []string{"no train net"}},
		{"two nets", `net: "n.prototxt" train_net: "n.prototxt"`, []string{"train_net", "net"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := write("s"+string(rune('a'+i))+".prototxt", tc.solver)
			_, _, err := LoadSolverAndNet(sp)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestLoadSolverAndNetInlineAndTestNets(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	mkdirs(t, filepath.Join(root, "a_lmdb"), filepath.Join(root, "b_lmdb"))
	if err := os.WriteFile(filepath.Join(root, "t.prototxt"),
		[]byte(`layer { name: "td" type: "Data" data_param { source: "file:b_lmdb" } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(root, "s.prototxt")
	if err := os.WriteFile(sp, []byte(`
train_net_param { name: "inline" layers { name: "d" type: DATA data_param { source: "a_lmdb" scale: 0.5 } } }
test_net: "t.prototxt"
test_iter: 1
solver_type: ADAM
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, net, err := LoadSolverAndNet(sp)
	if err != nil {
		t.Fatal(err)
	}
	if net.GetName() != "inline" || len(net.Layer) != 1 || net.Layer[0].GetType() != "Data" {
		t.Fatalf("net = %v", net)
	}
	if got := net.Layer[0].GetDataParam().GetSource(); got != filepath.Join(root, "a_lmdb") {
		t.Errorf("source = %q", got)
	}
	if net.Layer[0].GetTransformParam().GetScale() != 0.5 || net.Layer[0].GetDataParam().Scale != nil {
		t.Errorf("scale not moved to transform_param: %v", net.Layer[0])
	}
	if s.GetType() != "Adam" || s.SolverType != nil {
		t.Errorf("solver type = %q / %v", s.GetType(), s.SolverType)
	}
	if len(s.TestNet) != 0 || len(s.TestNetParam) != 1 ||
		s.TestNetParam[0].Layer[0].GetDataParam().GetSource() != filepath.Join(root, "b_lmdb") {
		t.Errorf("test nets = %v / %v", s.TestNet, s.TestNetParam)
	}
}

func TestSolverWarnings(t *testing.T) {
	gpu := caffepb.SolverParameter_GPU
	cpu := caffepb.SolverParameter_CPU
	hdf5 := caffepb.SolverParameter_HDF5
	dev := int32(2)
	tests := []struct {
		sp   *caffepb.SolverParameter
		want []string
	}{
		{&caffepb.SolverParameter{}, nil},
		{&caffepb.SolverParameter{SolverMode: &cpu}, nil},
		{&caffepb.SolverParameter{SolverMode: &gpu}, []string{"solver_mode: GPU requested; cos trains on CPU"}},
		// HDF5 is the solver's to report (it depends on the build tags).
		{&caffepb.SolverParameter{SolverMode: &gpu, DeviceId: &dev, SnapshotFormat: &hdf5}, []string{"GPU", "device_id: 2"}},
	}
	for i, tc := range tests {
		got := SolverWarnings(tc.sp)
		if len(got) != len(tc.want) {
			t.Errorf("#%d: warnings %q, want %d", i, got, len(tc.want))
			continue
		}
		for j := range got {
			if !strings.Contains(got[j], tc.want[j]) {
				t.Errorf("#%d: warning %q lacks %q", i, got[j], tc.want[j])
			}
		}
	}
}
