package prototxt

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

const testdata = "../testdata"

func TestLoadTestdataNets(t *testing.T) {
	tests := []struct {
		file       string
		layers     int
		firstType  string
		lastType   string
		sourceWant string // source of the first layer, if a data layer
	}{
		{"lenet_train_test.prototxt", 11, "Data", "SoftmaxWithLoss", "data/mnist_train_lmdb"},
		{"lenet_memory_train_test.prototxt", 11, "MemoryData", "SoftmaxWithLoss", "file:data/mnist_train_lmdb"},
		{"lenet_deploy.prototxt", 9, "Input", "Softmax", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			np, err := LoadNet(filepath.Join(testdata, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if np.GetName() != "LeNet" {
				t.Errorf("name = %q", np.GetName())
			}
			if len(np.Layer) != tc.layers {
				t.Fatalf("%d layers, want %d", len(np.Layer), tc.layers)
			}
			if got := np.Layer[0].GetType(); got != tc.firstType {
				t.Errorf("first layer type %q, want %q", got, tc.firstType)
			}
			if got := np.Layer[len(np.Layer)-1].GetType(); got != tc.lastType {
				t.Errorf("last layer type %q, want %q", got, tc.lastType)
			}
			l0 := np.Layer[0]
			var src string
			switch {
			case l0.DataParam != nil:
				src = l0.DataParam.GetSource()
			case l0.MemoryDataParam != nil:
				src = l0.MemoryDataParam.GetSource()
			}
			if src != tc.sourceWant {
				t.Errorf("source %q, want %q", src, tc.sourceWant)
			}
			var conv1 *caffepb.LayerParameter
			for _, l := range np.Layer {
				if l.GetName() == "conv1" {
					conv1 = l
				}
			}
			if conv1 == nil {
				t.Fatal("no conv1")
			}
			cp := conv1.GetConvolutionParam()
			if cp.GetNumOutput() != 20 || cp.GetKernelSize()[0] != 5 || cp.GetWeightFiller().GetType() != "xavier" {
				t.Errorf("conv1 = %v", cp)
			}
			if len(conv1.Param) != 2 || conv1.Param[1].GetLrMult() != 2 || conv1.Param[0].GetDecayMult() != 1 {
				t.Errorf("conv1 params = %v", conv1.Param)
			}
		})
	}
}

func TestLoadTestdataMemoryNetDetails(t *testing.T) {
	np, err := LoadNet(filepath.Join(testdata, "lenet_memory_train_test.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	l := np.Layer[0]
	if l.GetSourceClass() != "com.yahoo.ml.caffe.LMDB" {
		t.Errorf("source_class = %q", l.GetSourceClass())
	}
	m := l.GetMemoryDataParam()
	if m.GetBatchSize() != 64 || m.GetChannels() != 1 || m.GetHeight() != 28 || m.GetWidth() != 28 || m.GetShareInParallel() {
		t.Errorf("memory_data_param = %v", m)
	}
	if l.GetTransformParam().GetScale() != 0.00390625 {
		t.Errorf("scale = %v", l.GetTransformParam().GetScale())
	}
	if np.Layer[1].GetMemoryDataParam().GetBatchSize() != 100 || np.Layer[1].GetInclude()[0].GetPhase() != caffepb.Phase_TEST {
		t.Errorf("test data layer = %v", np.Layer[1])
	}
}

func TestLoadTestdataSolvers(t *testing.T) {
	tests := []struct {
		file     string
		net      string
		mode     caffepb.SolverParameter_SolverMode
		maxIter  int32
		testIter int32
		warnings int
	}{
		{"lenet_solver.prototxt", "lenet_train_test.prototxt", caffepb.SolverParameter_CPU, 10000, 100, 0},
		{"lenet_memory_solver.prototxt", "lenet_memory_train_test.prototxt", caffepb.SolverParameter_GPU, 10000, 10, 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			sp, err := LoadSolver(filepath.Join(testdata, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if sp.GetNet() != tc.net || sp.GetSolverMode() != tc.mode || sp.GetMaxIter() != tc.maxIter {
				t.Errorf("solver = %v", sp)
			}
			if len(sp.TestIter) != 1 || sp.TestIter[0] != tc.testIter {
				t.Errorf("test_iter = %v", sp.TestIter)
			}
			if sp.GetBaseLr() != 0.01 || sp.GetMomentum() != 0.9 || sp.GetLrPolicy() != "inv" ||
				sp.GetGamma() != 0.0001 || sp.GetPower() != 0.75 || sp.GetWeightDecay() != 0.0005 {
				t.Errorf("hyper-parameters = %v", sp)
			}
			// Defaults that solvers rely on.
			if sp.GetType() != "SGD" || sp.GetIterSize() != 1 || sp.GetAverageLoss() != 1 ||
				sp.GetClipGradients() != -1 || sp.GetRegularizationType() != "L2" ||
				sp.GetDelta() != 1e-8 || sp.GetMomentum2() != 0.999 || sp.GetRmsDecay() != 0.99 ||
				!sp.GetSnapshotAfterTrain() || !sp.GetTestInitialization() ||
				sp.GetSnapshotFormat() != caffepb.SolverParameter_BINARYPROTO {
				t.Errorf("defaults wrong: %v", sp)
			}
			w := SolverWarnings(sp)
			if len(w) != tc.warnings {
				t.Errorf("warnings = %q, want %d", w, tc.warnings)
			}
			if tc.warnings > 0 && !strings.Contains(w[0], "GPU") {
				t.Errorf("warning %q does not mention GPU", w[0])
			}
		})
	}
}

var posRe = regexp.MustCompile(`^(.+):(\d+):(\d+): (.+)$`)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		line     string
		col      string
		contains []string
	}{
		{"unknown field", "name: \"x\"\nlayer {\n  name: \"a\"\n  bogus_field: 3\n}\n", "4", "3", []string{"unknown field", "bogus_field"}},
		{"syntax error", "name: \"x\"\nlayer {\n  name: \"a\"\n  type: Convolution\" }\n", "4", "", []string{}},
		{"bad enum", "layer {\n  pooling_param { pool: MAXIMUM }\n}\n", "2", "", []string{"MAXIMUM"}},
		{"unclosed brace", "layer {\n  name: \"a\"\n", "3", "1", []string{"EOF"}},
		{"repeated scalar", "name: \"a\"\nname: \"b\"\n", "2", "1", []string{"name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNet([]byte(tc.text), "dir/net.prototxt")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			m := posRe.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("error %q is not file:line:col: message", msg)
			}
			if m[1] != "dir/net.prototxt" {
				t.Errorf("file %q in %q", m[1], msg)
			}
			if m[2] != tc.line {
				t.Errorf("line %s, want %s in %q", m[2], tc.line, msg)
			}
			if tc.col != "" && m[3] != tc.col {
				t.Errorf("col %s, want %s in %q", m[3], tc.col, msg)
			}
			if strings.Contains(msg, "proto:") {
				t.Errorf("message keeps the proto: prefix: %q", msg)
			}
			for _, c := range tc.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("%q does not contain %q", msg, c)
				}
			}
		})
	}
}

func TestLoadNetErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.prototxt")
	if err := os.WriteFile(p, []byte("layer {\n  nme: \"x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadNet(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":2:3: ") || !strings.Contains(err.Error(), "nme") {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadSolver(filepath.Join(dir, "missing.prototxt")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestCaffeTextQuirks(t *testing.T) {
	// Things real Caffe files do that the parser must accept.
	text := `# comment line
name: 'quoted' # trailing comment
layer: {
  name: "c" type: "Convolution"; bottom: "data", top: "c"
  convolution_param { num_output: 4 kernel_size: 3 kernel_size: 3 pad: [1, 1] }
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
}
layer < name: "p" type: "Pooling" pooling_param { pool: 1 kernel_size: 2 } >
`
	np, err := ParseNet([]byte(text), "q.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	if np.GetName() != "quoted" || len(np.Layer) != 2 {
		t.Fatalf("net = %v", np)
	}
	cp := np.Layer[0].GetConvolutionParam()
	if len(cp.KernelSize) != 2 || len(cp.Pad) != 2 {
		t.Errorf("conv = %v", cp)
	}
	if np.Layer[1].GetPoolingParam().GetPool() != caffepb.PoolingParameter_AVE {
		t.Errorf("pool = %v", np.Layer[1].GetPoolingParam().GetPool())
	}
}

// CaffeOnSpark's CoSData layer as its sequence-model examples write it: a
// transposed 1-axis integer top and a DataFrame reader format. These fields
// were missing from the proto, so such files failed to parse.
func TestCoSDataFields(t *testing.T) {
	text := `layer {
  name: "in" type: "CoSData" top: "img" top: "words"
  source_class: "com.yahoo.ml.caffe.DataFrameSource"
  cos_data_param {
    source: "file:/data/frames" batch_size: 4 dataframe_format: "json"
    top { name: "img" type: ENCODED_IMAGE_WITH_DIM channels: 3 height: 40 width: 40
          out_channels: 3 out_height: 32 out_width: 32 transform_param { crop_size: 32 } }
    top { name: "words" type: INT_ARRAY channels: 12 sample_num_axes: 1 transpose: true }
  }
}`
	np, err := ParseNet([]byte(text), "cos.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	cp := np.Layer[0].GetCosDataParam()
	if cp.GetDataframeFormat() != "json" || len(cp.GetTop()) != 2 {
		t.Fatalf("cos_data_param = %v", cp)
	}
	w := cp.GetTop()[1]
	if !w.GetTranspose() || w.GetSampleNumAxes() != 1 || w.GetType() != caffepb.CoSDataParameter_INT_ARRAY || w.GetChannels() != 12 {
		t.Errorf("words top = %v", w)
	}
	if img := cp.GetTop()[0]; img.GetTranspose() || img.GetSampleNumAxes() != 3 || img.GetOutHeight() != 32 {
		t.Errorf("img top = %v (transpose defaults to false, sample_num_axes to 3)", img)
	}
}

func TestIncludeAndExcludeRejected(t *testing.T) {
	_, err := ParseNet([]byte(`layer { name: "d" include { phase: TRAIN } exclude { phase: TEST } }`), "n.prototxt")
	if err == nil || !strings.Contains(err.Error(), `"d"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	np, err := LoadNet(filepath.Join(testdata, "lenet_train_test.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	np.Layer[2].Blobs = []*caffepb.BlobProto{{
		Shape: &caffepb.BlobShape{Dim: []int64{20, 1, 5, 5}},
		Data:  make([]float32, 500),
	}}
	np.Layer[2].Blobs[0].Data[7] = 0.25
	p := filepath.Join(dir, "lenet.caffemodel")
	if err := WriteBinary(p, np); err != nil {
		t.Fatal(err)
	}
	back, err := LoadBinaryNet(p)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(np, back) {
		t.Fatal("binary round trip changed the net")
	}
	// A text file is not a valid binary net.
	if _, err := LoadBinaryNet(filepath.Join(testdata, "lenet_solver.prototxt")); err == nil {
		t.Error("text file loaded as binary net")
	}

	mean := &caffepb.BlobProto{Num: proto.Int32(1), Channels: proto.Int32(3), Height: proto.Int32(2), Width: proto.Int32(2),
		Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	mp := filepath.Join(dir, "mean.binaryproto")
	if err := WriteBinary(mp, mean); err != nil {
		t.Fatal(err)
	}
	mb, err := LoadBlobProto(mp)
	if err != nil || !proto.Equal(mb, mean) {
		t.Fatalf("blob round trip: %v %v", mb, err)
	}

	st := &caffepb.SolverState{Iter: proto.Int32(500), LearnedNet: proto.String("x.caffemodel"), History: []*caffepb.BlobProto{mean}}
	sp := filepath.Join(dir, "x.solverstate")
	if err := WriteBinary(sp, st); err != nil {
		t.Fatal(err)
	}
	sb, err := LoadSolverState(sp)
	if err != nil || !proto.Equal(sb, st) {
		t.Fatalf("solverstate round trip: %v %v", sb, err)
	}
}

func TestWriteBinaryAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.caffemodel")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	net := &caffepb.NetParameter{Name: proto.String("n")}
	if err := WriteBinary(p, net); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "m.caffemodel" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only m.caffemodel", names)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	back, err := LoadBinaryNet(p)
	if err != nil || back.GetName() != "n" {
		t.Fatalf("%v %v", back, err)
	}

	// Writing into a missing directory fails and leaves nothing behind.
	if err := WriteBinary(filepath.Join(dir, "nope", "x"), net); err == nil {
		t.Error("write into missing directory succeeded")
	}
	// A failed rename (target is a non-empty directory) removes the temp file.
	target := filepath.Join(dir, "isdir")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteBinary(target, net); err == nil {
		t.Error("rename over a directory succeeded")
	}
	entries, _ = os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestWriteTextRoundTrip(t *testing.T) {
	sp, err := LoadSolver(filepath.Join(testdata, "lenet_solver.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "s.prototxt")
	if err := WriteText(p, sp); err != nil {
		t.Fatal(err)
	}
	back, err := LoadSolver(p)
	if err != nil || !proto.Equal(sp, back) {
		t.Fatalf("text round trip: %v", err)
	}
}
