package cos

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// needed says whether a missing prerequisite fails the test (in CI, which
// installs everything) or skips it (on a developer machine without it).
func needed(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must provide %s", what)
	}
	t.Skipf("%s not available", what)
}

// TestOpenCVLoadsOurModel trains LeNet on real MNIST briefly, writes the
// .caffemodel, and checks that OpenCV's dnn module (cv2.dnn.readNetFromCaffe)
// predicts the same classes and probabilities as cos on 500 test images.
func TestOpenCVLoadsOurModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains LeNet")
	}
	wd, _ := os.Getwd()
	trainDB, testDB := filepath.Join(wd, "data", "mnist_train_lmdb"), filepath.Join(wd, "data", "mnist_test_lmdb")
	if _, err := os.Stat(filepath.Join(testDB, "data.mdb")); err != nil {
		needed(t, "MNIST LMDBs in data/ (make data)")
	}
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import cv2").Run(); err != nil {
		needed(t, "python3-opencv")
	}
	dir := t.TempDir()
	// Caffe's LeNet with our paths and a short schedule.
	np, err := prototxt.LoadNet(filepath.Join(wd, "testdata", "lenet_train_test.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range np.Layer {
		if dp := l.GetDataParam(); dp != nil {
			if l.Include[0].GetPhase() == caffepb.Phase_TRAIN {
				dp.Source = &trainDB
			} else {
				dp.Source = &testDB
			}
		}
	}
	if err := prototxt.WriteText(filepath.Join(dir, "net.prototxt"), np); err != nil {
		t.Fatal(err)
	}
	solverText := "net: \"net.prototxt\"\nbase_lr: 0.01\nmomentum: 0.9\nweight_decay: 0.0005\nlr_policy: \"inv\"\ngamma: 0.0001\npower: 0.75\nmax_iter: 300\nrandom_seed: 3\nsnapshot_after_train: false\n"
	os.WriteFile(filepath.Join(dir, "solver.prototxt"), []byte(solverText), 0o644)
	model := filepath.Join(dir, "lenet.caffemodel")
	if _, err := Train(context.Background(), Config{Solver: filepath.Join(dir, "solver.prototxt"), Model: model}); err != nil {
		t.Fatal(err)
	}

	// 500 test images, scaled as the net's transform_param does.
	const n = 500
	db, err := lmdb.Open(testDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := db.Shard(0, 1)
	images := make([]float32, 0, n*28*28)
	var s layers.Sample
	for i := 0; i < n; i++ {
		if err := src.Next(&s); err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Data {
			images = append(images, float32(p)*0.00390625)
		}
	}
	src.Close()

	// cos's own predictions with the deploy net.
	deploy := filepath.Join(wd, "testdata", "lenet_deploy.prototxt")
	dp, err := prototxt.LoadNet(deploy)
	if err != nil {
		t.Fatal(err)
	}
	dp.Layer[0].InputParam.Shape[0].Dim[0] = n
	dn, err := net.New(dp, &layers.Context{Phase: caffepb.Phase_TEST})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := prototxt.LoadBinaryNet(model)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dn.CopyTrainedLayersFrom(mp); err != nil {
		t.Fatal(err)
	}
	copy(dn.BlobByName("data").Data, images)
	if _, err := dn.Forward(); err != nil {
		t.Fatal(err)
	}
	ours := dn.OutputBlobs()[0].Data

	// OpenCV's.
	raw := make([]byte, 4*len(images))
	for i, v := range images {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	imgFile := filepath.Join(dir, "images.f32")
	os.WriteFile(imgFile, raw, 0o644)
	cmd := exec.Command(python, filepath.Join(wd, "scripts", "opencv_predict.py"), deploy, model, imgFile, "500", "1", "28", "28")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("opencv: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var theirs [][]float64
	if err := json.Unmarshal(out, &theirs); err != nil {
		t.Fatalf("opencv output: %v", err)
	}
	if len(theirs) != n {
		t.Fatalf("opencv returned %d rows", len(theirs))
	}
	agree, maxDiff := 0, 0.0
	for i, row := range theirs {
		if len(row) != 10 {
			t.Fatalf("row %d has %d classes", i, len(row))
		}
		a, b := argmax32(ours[i*10:(i+1)*10]), argmax64(row)
		if a == b {
			agree++
		}
		for c := range row {
			maxDiff = math.Max(maxDiff, math.Abs(row[c]-float64(ours[i*10+c])))
		}
	}
	if agree != n || maxDiff > 1e-4 {
		t.Fatalf("OpenCV agrees on %d of %d predictions, max probability difference %g", agree, n, maxDiff)
	}
	t.Logf("OpenCV and cos agree on all %d predictions (max probability difference %.2g)", n, maxDiff)
}

func argmax32(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func argmax64(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
