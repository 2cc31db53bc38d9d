package cos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt/caffepb"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	// Local cluster launches re-run this test binary as executors.
	RunExecutorIfChild()
	os.Exit(m.Run())
}

func readFeatureRows(t *testing.T, dir string) map[string]map[string][]float64 {
	t.Helper()
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	if len(parts) == 0 {
		t.Fatalf("no part files in %s", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Fatalf("no _SUCCESS marker: %v", err)
	}
	rows := map[string]map[string][]float64{}
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var raw map[string]any
			if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
				t.Fatalf("%s: %v in %q", p, err, sc.Text())
			}
			id, _ := raw["SampleID"].(string)
			if _, dup := rows[id]; dup {
				t.Fatalf("sample %q written twice", id)
			}
			row := map[string][]float64{}
			for k, v := range raw {
				if k == "SampleID" {
					continue
				}
				for _, x := range v.([]any) {
					row[k] = append(row[k], x.(float64))
				}
			}
			rows[id] = row
		}
		f.Close()
	}
	return rows
}

// TestJobsSingleExecutor trains the tiny net, then tests and extracts
// features from the saved model in later, separate jobs.
func TestJobsSingleExecutor(t *testing.T) {
	solverPath := tinyJob(t, 200, 23) // 23 test records: not a multiple of batch 5
	dir := filepath.Dir(solverPath)
	t.Chdir(dir)
	model := filepath.Join(dir, "out", "tiny.caffemodel")
	var progress []Progress
	tr, err := Train(context.Background(), Config{Solver: solverPath, Model: model, Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Iter != 60 || tr.Model != model {
		t.Fatalf("train result %+v", tr)
	}
	// One report per iteration, then one for the final test pass.
	if len(progress) != 61 || progress[59].Iter != 60 || progress[60].Test == nil {
		t.Fatalf("progress reports: %d, last %+v", len(progress), progress[len(progress)-1])
	}
	if progress[59].Loss >= progress[0].Loss {
		t.Errorf("loss did not fall: %v -> %v", progress[0].Loss, progress[59].Loss)
	}
	// Curves: one train-loss point per display interval (display 10, 60 iterations).
	csv, err := os.ReadFile(tr.Curves + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(csv), ",train_loss,"); n != 6 {
		t.Errorf("curves hold %d train_loss points, want 6:\n%s", n, csv)
	}
	if !strings.Contains(string(csv), ",test_accuracy,") {
		t.Errorf("curves lack test_accuracy:\n%s", csv)
	}
	if _, err := os.Stat(tr.Curves + ".png"); err != nil {
		t.Error(err)
	}

	res, err := Test(context.Background(), Config{Solver: solverPath, Model: model, Output: filepath.Join(dir, "test")})
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := res.Value("accuracy")
	if !ok || acc < 0.9 || res.Samples != 23 {
		t.Fatalf("test result %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(dir, "test", "test_result.txt"))
	if err != nil || !strings.HasPrefix(string(b), "accuracy: ") {
		t.Fatalf("test_result.txt = %q, %v", b, err)
	}

	fr, err := Features(context.Background(), Config{Solver: solverPath, Model: model, Features: []string{"ip2", "accuracy"}, Label: "label", Output: filepath.Join(dir, "features")})
	if err != nil {
		t.Fatal(err)
	}
	rows := readFeatureRows(t, filepath.Join(dir, "features"))
	if fr.Rows != 23 || len(rows) != 23 {
		t.Fatalf("features: result %d rows, files %d rows, want 23", fr.Rows, len(rows))
	}
	// The same rows as Parquet.
	pq, err := Features(context.Background(), Config{Solver: solverPath, Model: model, Features: []string{"ip2"}, Label: "label",
		Output: filepath.Join(dir, "parquet"), OutputFormat: "parquet"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "parquet", "part-00000.parquet")); err != nil || st.Size() == 0 || pq.Rows != 23 {
		t.Fatalf("parquet part: %v, rows %d", err, pq.Rows)
	}
	for i := 0; i < 23; i++ {
		id := fmt.Sprintf("%08d", i)
		r, ok := rows[id]
		if !ok {
			t.Fatalf("sample %s missing", id)
		}
		if len(r["ip2"]) != 2 || len(r["accuracy"]) != 1 || len(r["label"]) != 1 {
			t.Fatalf("row %s = %v", id, r)
		}
	}
}

// TestJobsLocalCluster trains on two executor processes, then extracts
// features with two and with three executors from a test set whose size (23)
// is a multiple of neither batch (5) × executors: every record must appear
// exactly once across the part files.
func TestJobsLocalCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	solverPath := tinyJob(t, 200, 23)
	dir := filepath.Dir(solverPath)
	t.Chdir(dir)
	model := filepath.Join(dir, "tiny2.caffemodel")
	tr, err := Train(context.Background(), Config{Solver: solverPath, Model: model, ClusterSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Iter != 60 || tr.Test == nil {
		t.Fatalf("train result %+v", tr)
	}
	for _, n := range []int{2, 3} {
		out := filepath.Join(dir, fmt.Sprintf("features%d", n))
		fr, err := Features(context.Background(), Config{Solver: solverPath, Model: model, Features: []string{"accuracy", "loss"}, Label: "label", Output: out, ClusterSize: n})
		if err != nil {
			t.Fatal(err)
		}
		rows := readFeatureRows(t, out)
		parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
		if fr.Rows != 23 || len(rows) != 23 || len(parts) != n {
			t.Fatalf("%d executors: %d rows reported, %d in files, %d parts", n, fr.Rows, len(rows), len(parts))
		}
		for i := 0; i < 23; i++ {
			if _, ok := rows[fmt.Sprintf("%08d", i)]; !ok {
				t.Fatalf("%d executors: sample %08d missing", n, i)
			}
		}
	}
	res, err := Test(context.Background(), Config{Solver: solverPath, Model: model, ClusterSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if acc, _ := res.Value("accuracy"); res.Samples != 23 || acc < 0.9 {
		t.Fatalf("test on 2 executors: %+v", res)
	}
}

func TestRecoverJob(t *testing.T) {
	f := func() (err error) {
		defer recoverJob(&err)
		var m map[string]int
		m["x"] = 1 // a deliberate bug
		return nil
	}
	err := f()
	if err == nil || !strings.Contains(err.Error(), "internal error at") || !strings.Contains(err.Error(), "jobs_test.go") {
		t.Fatalf("err = %v", err)
	}
}

// TestResumeOnAnotherClusterSize snapshots a 2-executor run and finishes it
// from the snapshot on one executor, as after losing a machine.
func TestResumeOnAnotherClusterSize(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	solverPath := tinyJob(t, 200, 20)
	dir := filepath.Dir(solverPath)
	t.Chdir(dir)
	b, _ := os.ReadFile(solverPath)
	s := strings.Replace(string(b), "snapshot: 0", "snapshot: 20", 1)
	s = strings.Replace(s, "max_iter: 60", "max_iter: 40", 1)
	os.WriteFile(solverPath, []byte(s), 0o644)
	if _, err := Train(context.Background(), Config{Solver: solverPath, Model: "a.caffemodel", ClusterSize: 2}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tiny_iter_20.caffemodel", "tiny_iter_20.solverstate", "tiny_iter_40.caffemodel", "a.caffemodel"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("after the 2-executor run: %v", err)
		}
	}
	os.Remove("tiny_iter_40.caffemodel")
	var first int
	res, err := Train(context.Background(), Config{Solver: solverPath, Model: "b.caffemodel", Snapshot: "tiny_iter_20.solverstate",
		Progress: func(p Progress) {
			if first == 0 {
				first = p.Iter
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if first != 21 || res.Iter != 40 {
		t.Fatalf("resumed run: first iteration %d, last %d; want 21 and 40", first, res.Iter)
	}
}

// TestResizeFlag feeds 8×8 records to a MemoryData layer declared 4×4: an
// error without -resize (naming the sizes), training with it.
func TestResizeFlag(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	w, err := lmdb.Create(filepath.Join(dir, "big_lmdb"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 32; i++ {
		px := make([]byte, 64)
		for j := range px {
			px[j] = byte((i*7 + j*3) % 256)
		}
		if err := w.Put(fmt.Sprintf("%08d", i), &caffepb.Datum{Channels: proto.Int32(1), Height: proto.Int32(8), Width: proto.Int32(8), Data: px, Label: proto.Int32(int32(i % 2))}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	netText := `layer { name: "data" type: "MemoryData" top: "data" top: "label" source_class: "com.yahoo.ml.caffe.LMDB"
  memory_data_param { source: "file:big_lmdb" batch_size: 8 channels: 1 height: 4 width: 4 } transform_param { scale: 0.00390625 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`
	os.WriteFile("net.prototxt", []byte(netText), 0o644)
	os.WriteFile("solver.prototxt", []byte("net: \"net.prototxt\"\nbase_lr: 0.1\nlr_policy: \"fixed\"\nmax_iter: 5\nsnapshot_after_train: false\n"), 0o644)
	_, err = Train(context.Background(), Config{Solver: "solver.prototxt"})
	if err == nil || !strings.Contains(err.Error(), "8") {
		t.Fatalf("without -resize: err = %v, want a size mismatch", err)
	}
	res, err := Train(context.Background(), Config{Solver: "solver.prototxt", Resize: true})
	if err != nil {
		t.Fatalf("with -resize: %v", err)
	}
	if res.Iter != 5 {
		t.Fatalf("trained %d iterations", res.Iter)
	}
}
