package distri

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cos-project/cos/lmdb"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
	"github.com/cos-project/cos/solver"
)

// A small conv net over 8×8 one-channel images of 4 classes.
const testNetText = `
name: "tiny"
layer { name: "data" type: "Data" top: "data" top: "label"
  include { phase: TRAIN }
  transform_param { scale: 0.00390625 }
  data_param { source: "SOURCE" batch_size: BATCH backend: LMDB } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
  inner_product_param { num_output: 4 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
`

const testSolverText = `
base_lr: 0.05 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75
max_iter: 50 display: 0 random_seed: 17
`

// makeImages returns n 8×8 images whose label (0..3) is the brightest
// quadrant, so the net has something to learn.
func makeImages(n int) []*caffepb.Datum {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]*caffepb.Datum, n)
	for i := range out {
		pix := make([]byte, 64)
		label := rng.IntN(4)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				v := rng.IntN(128)
				if (y/4)*2+x/4 == label {
					v += 100
				}
				pix[y*8+x] = byte(v)
			}
		}
		out[i] = &caffepb.Datum{Channels: ptr32(1), Height: ptr32(8), Width: ptr32(8), Data: pix, Label: ptr32(int32(label))}
	}
	return out
}

func ptr32(v int32) *int32 { return &v }

func writeDB(t *testing.T, path string, ds []*caffepb.Datum) {
	t.Helper()
	w, err := lmdb.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if err := w.Put(fmt.Sprintf("%08d", i), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func loadDefs(t *testing.T, source string, batch int) (*caffepb.SolverParameter, *caffepb.NetParameter) {
	t.Helper()
	sp, np, err := testDefs(source, batch)
	if err != nil {
		t.Fatal(err)
	}
	return sp, np
}

func testDefs(source string, batch int) (*caffepb.SolverParameter, *caffepb.NetParameter, error) {
	sp, err := prototxt.ParseSolver([]byte(testSolverText), "solver.prototxt")
	if err != nil {
		return nil, nil, err
	}
	text := strings.NewReplacer("SOURCE", source, "BATCH", fmt.Sprint(batch)).Replace(testNetText)
	np, err := prototxt.ParseNet([]byte(text), "net.prototxt")
	return sp, np, err
}

// weightsOf copies the learnable weights of a trained solver.
func weightsOf(s *solver.Solver) [][]float32 {
	var out [][]float32
	for _, p := range s.Net().LearnableParams() {
		out = append(out, append([]float32(nil), p.Blob.Data[:p.Blob.Count()]...))
	}
	return out
}

// TestTwoExecutorsMatchOne trains 50 steps with 2 executors × batch 32 and
// with 1 executor × batch 64 over the same 64 images per step.
//
// Shards are contiguous halves of the LMDB, so the two-executor database
// is laid out for it: the single run's batch t is images 64t..64t+63; in
// the two-executor database the first half holds, for t = 0, 1, ..., images
// 64t..64t+31 and the second half images 64t+32..64t+63, so at step t
// executor 0 reads the first 32 and executor 1 the last 32 of the same 64.
// The mean of the two half-batch gradients is the full batch's gradient
// (SoftmaxWithLoss normalizes by the batch size), up to rounding.
func TestTwoExecutorsMatchOne(t *testing.T) {
	const steps, batch = 8, 64 // 8 distinct batches, then the epoch wraps
	imgs := makeImages(steps * batch)
	dir := t.TempDir()
	single := filepath.Join(dir, "single")
	writeDB(t, single, imgs)
	var split []*caffepb.Datum
	for half := 0; half < 2; half++ {
		for s := 0; s < steps; s++ {
			split = append(split, imgs[s*batch+half*batch/2:s*batch+(half+1)*batch/2]...)
		}
	}
	pair := filepath.Join(dir, "pair")
	writeDB(t, pair, split)

	sp, np := loadDefs(t, single, batch)
	var ref [][]float32
	res, err := RunTrain(context.Background(), TrainJob{Solver: sp, Net: np, Threads: 1,
		After: func(_ context.Context, s *solver.Solver, _ *Cluster) error { ref = weightsOf(s); return nil }})
	if err != nil {
		t.Fatalf("single executor: %v", err)
	}
	if res.Iter != 50 {
		t.Fatalf("single executor did %d iterations", res.Iter)
	}

	sp2, np2 := loadDefs(t, pair, batch/2)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make([][][]float32, 2)
	planes := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		cfg := Config{Rank: r, WorldSize: 2, Master: lis.Addr().String(), Token: testToken, Logf: t.Logf}
		if r == 0 {
			cfg.Listener = lis
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[r] = RunTrain(context.Background(), TrainJob{Solver: sp2, Net: np2, Cluster: cfg, Threads: 1,
				After: func(_ context.Context, s *solver.Solver, c *Cluster) error {
					got[r], planes[r] = weightsOf(s), c.DataPlane()
					return nil
				}})
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if shmSupported && planes[0] != "shm" {
		t.Errorf("the two executors all-reduced over %q, want shm (same host)", planes[0])
	}
	worst := 0.0
	for i := range ref {
		for j, w := range ref[i] {
			for r := 0; r < 2; r++ {
				if math.Float32bits(got[r][i][j]) != math.Float32bits(got[0][i][j]) {
					t.Fatalf("param %d[%d]: rank %d has %v, rank 0 has %v (replicas must be bit-identical)", i, j, r, got[r][i][j], got[0][i][j])
				}
			}
			d := math.Abs(float64(got[0][i][j]-w)) / math.Max(math.Abs(float64(w)), 1e-2)
			worst = math.Max(worst, d)
		}
	}
	t.Logf("largest relative difference to the single executor after 50 steps: %.3g", worst)
	if worst > 1e-4 {
		t.Fatalf("2×32 differs from 1×64 by %.3g relative (> 1e-4)", worst)
	}
	// The weights moved: the comparison is not between two untrained nets.
	sp0, np0 := loadDefs(t, single, batch)
	sp0.MaxIter = ptr32(0)
	var init [][]float32
	if _, err := RunTrain(context.Background(), TrainJob{Solver: sp0, Net: np0, Threads: 1,
		After: func(_ context.Context, s *solver.Solver, _ *Cluster) error { init = weightsOf(s); return nil }}); err != nil {
		t.Fatal(err)
	}
	moved := 0.0
	for i := range init {
		for j := range init[i] {
			moved = math.Max(moved, math.Abs(float64(init[i][j]-ref[i][j])))
		}
	}
	if moved < 1e-3 {
		t.Fatalf("training moved the weights by only %g", moved)
	}
}

// TestInsufficientData: a shard smaller than one batch fails at start on
// that executor, and the others stop naming it.
func TestInsufficientData(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	writeDB(t, db, makeImages(63)) // shard 0 holds 31 < batch 32, shard 1 holds 32
	sp, np := loadDefs(t, db, 32)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for r := 0; r < 2; r++ {
		cfg := Config{Rank: r, WorldSize: 2, Master: lis.Addr().String(), Token: testToken, Logf: t.Logf}
		if r == 0 {
			cfg.Listener = lis
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[r] = RunTrain(context.Background(), TrainJob{Solver: sp, Net: np, Cluster: cfg, Threads: 1})
		}()
	}
	wg.Wait()
	t.Logf("stopped after %v", time.Since(start))
	if err := errs[0]; err == nil || !strings.Contains(err.Error(), "Insufficient training data") || !strings.Contains(err.Error(), "(shard 0 of 2), which holds 31 records, fewer than one batch of 32") {
		t.Errorf("rank 0: got %v, want an Insufficient training data error naming shard 0, 31 records and batch 32", errs[0])
	}
	if err := errs[1]; err == nil || !strings.Contains(err.Error(), "executor rank 0 on host") || !strings.Contains(err.Error(), "Insufficient training data") {
		t.Errorf("rank 1: got %v, want an error naming rank 0 and its insufficient data", err)
	}
}
