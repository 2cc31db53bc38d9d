package solver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/net"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// memSource is a deterministic in-memory shard of float records.
type memSource struct {
	name string
	x    [][]float32
	y    []float32
	keys [][]byte
	pos  int
}

func (m *memSource) Next(s *layers.Sample) error {
	if m.pos >= len(m.x) {
		return layers.ErrEndOfData
	}
	i := m.pos
	m.pos++
	s.Key = append(s.Key[:0], m.keys[i]...)
	s.Channels, s.Height, s.Width = len(m.x[i]), 1, 1
	s.Data = s.Data[:0]
	s.FloatData = append(s.FloatData[:0], m.x[i]...)
	s.Label = m.y[i]
	s.Encoded = false
	return nil
}
func (m *memSource) Rewind() error { m.pos = 0; return nil }
func (m *memSource) Len() int      { return len(m.x) }
func (m *memSource) Name() string  { return m.name }
func (m *memSource) Close() error  { return nil }

const (
	dim     = 8
	classes = 3
)

// blobsData generates n points around three class centres (fixed seed), so
// a small net can learn them.
func genData(name string, n int, seed int64) *memSource {
	centres := rand.New(rand.NewSource(42))
	c := make([][]float64, classes)
	for k := range c {
		c[k] = make([]float64, dim)
		for j := range c[k] {
			c[k][j] = 1.5 * centres.NormFloat64()
		}
	}
	r := rand.New(rand.NewSource(seed))
	m := &memSource{name: name}
	for i := 0; i < n; i++ {
		k := r.Intn(classes)
		x := make([]float32, dim)
		for j := range x {
			x[j] = float32(c[k][j] + r.NormFloat64())
		}
		m.x = append(m.x, x)
		m.y = append(m.y, float32(k))
		m.keys = append(m.keys, []byte(fmt.Sprintf("%08d", i)))
	}
	return m
}

// opener serves fresh sources: "train" (120 records) and "test" (60).
func opener(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
	src := lp.GetDataParam().GetSource()
	if lp.GetMemoryDataParam() != nil {
		src = strings.TrimPrefix(lp.GetMemoryDataParam().GetSource(), "file:")
	}
	// The loader rewrites sources to absolute paths.
	switch src = filepath.Base(src); src {
	case "train":
		return genData(src, 120, 1), nil
	case "test":
		return genData(src, 60, 2), nil
	default:
		return nil, fmt.Errorf("no source %q", src)
	}
}

const tinyNet = `
name: "tiny"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        data_param { source: "train" batch_size: %d } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        data_param { source: "test" batch_size: 10 } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 16 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
`

func tinyNetParam(t testing.TB, batch int) *caffepb.NetParameter {
	t.Helper()
	np, err := prototxt.ParseNet([]byte(fmt.Sprintf(tinyNet, batch)), "tiny.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	return np
}

func solverParam(t testing.TB, text string) *caffepb.SolverParameter {
	t.Helper()
	sp, err := prototxt.ParseSolver([]byte(text), "solver.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func newSolver(t testing.TB, spText string, batch int, opts Options) *Solver {
	t.Helper()
	if opts.Sources == nil {
		opts.Sources = opener
	}
	s, err := New(solverParam(t, spText), tinyNetParam(t, batch), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newMemorySolver is newSolver on the net with CaffeOnSpark's MemoryData
// layers instead of Data.
func newMemorySolver(t testing.TB, spText string, batch int, opts Options) *Solver {
	t.Helper()
	np := tinyNetParam(t, batch)
	for _, l := range np.Layer {
		if l.GetType() == "Data" {
			l.Type = proto.String("MemoryData")
			l.SourceClass = proto.String("com.yahoo.ml.caffe.LMDB")
			l.MemoryDataParam = &caffepb.MemoryDataParameter{
				Source: proto.String("file:" + l.GetDataParam().GetSource()), BatchSize: proto.Uint32(l.GetDataParam().GetBatchSize()),
				Channels: proto.Uint32(dim), Height: proto.Uint32(1), Width: proto.Uint32(1)}
			l.DataParam = nil
		}
	}
	s, err := New(solverParam(t, spText), np, Options{Sources: opener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// weights copies every learnable param's values.
func weights(s *Solver) [][]float32 {
	var w [][]float32
	for _, p := range s.Net().LearnableParams() {
		w = append(w, append([]float32(nil), p.Blob.Data...))
	}
	return w
}

type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuf) count(re string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	r := regexp.MustCompile(re)
	for _, s := range l.lines {
		if r.MatchString(s) {
			n++
		}
	}
	return n
}

// A short real training run on the generated dataset must cut the loss and
// classify the held-out points; tests run at 0, 20, 40 and 60.
func TestTrainingReducesLoss(t *testing.T) {
	var losses []float32
	var tests []int
	var log logBuf
	s := newSolver(t, `base_lr: 0.05 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75
		max_iter: 60 test_iter: 6 test_interval: 20 display: 20 random_seed: 3 snapshot_after_train: false`, 10,
		Options{Logf: log.logf, Progress: func(p Progress) {
			if p.Final {
				if p.Iter != 60 || len(p.Test) != 1 {
					t.Errorf("final report %+v", p)
				}
				tests = append(tests, p.Iter)
				return
			}
			losses = append(losses, p.Loss)
			if p.Test != nil {
				tests = append(tests, p.Iter-1)
			}
			if p.MaxIter != 60 || p.Iter != len(losses) {
				t.Errorf("progress %+v", p)
			}
		}})
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(losses) != 60 || s.Iter() != 60 {
		t.Fatalf("%d progress calls, iter %d", len(losses), s.Iter())
	}
	first := (losses[0] + losses[1] + losses[2]) / 3
	last := (losses[57] + losses[58] + losses[59]) / 3
	if !(last < 0.3*first) {
		t.Errorf("loss went from %g to %g", first, last)
	}
	if fmt.Sprint(tests) != "[0 20 40 60]" {
		t.Errorf("tests reported at iterations %v, want [0 20 40 60] (the last from Solve)", tests)
	}
	// The final test (Solve's, at 60) is logged like the others.
	if n := log.count(`^Iteration (0|20|40|60), Testing net \(#0\)$`); n != 4 {
		t.Errorf("%d test headers, want 4:\n%s", n, strings.Join(log.lines, "\n"))
	}
	res, err := s.TestAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := res[0].Value("accuracy")
	if !ok || acc < 0.9 {
		t.Errorf("test accuracy %g (%v), want >= 0.9; %+v", acc, ok, res[0])
	}
}

// Caffe's log lines, as tools that parse Caffe logs expect them.
func TestLogLines(t *testing.T) {
	var log logBuf
	s := newSolver(t, `base_lr: 0.1 lr_policy: "fixed" max_iter: 10 display: 5 test_iter: 2 test_interval: 10
		random_seed: 1 snapshot_after_train: false solver_mode: GPU`, 10, Options{Logf: log.logf})
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`^Solving tiny$`,
		`^Learning Rate Policy: fixed$`,
		`^solver_mode: GPU requested; cos trains on CPU$`,
		`^Iteration 0, Testing net \(#0\)$`,
		`^    Test net output #0: accuracy = [0-9.e+-]+$`,
		`^    Test net output #1: loss = [0-9.e+-]+ \(\* 1 = [0-9.e+-]+ loss\)$`,
		`^Iteration 5 \([0-9.e+-]+ iter/s, [0-9.e+-]+s/5 iters\), loss = [0-9.e+-]+$`,
		`^    Train net output #0: loss = [0-9.e+-]+ \(\* 1 = [0-9.e+-]+ loss\)$`,
		`^Iteration 5, lr = 0.1$`,
		`^Iteration 10, loss = [0-9.e+-]+$`,
		`^Iteration 10, Testing net \(#0\)$`,
		`^Optimization Done.$`,
	} {
		if log.count(re) == 0 {
			t.Errorf("no line matches %s in:\n%s", re, strings.Join(log.lines, "\n"))
		}
	}
	if n := log.count(`GPU`); n != 1 {
		t.Errorf("%d GPU warnings, want 1", n)
	}
	// Only rank 0 logs.
	var quiet logBuf
	s1 := newSolver(t, `base_lr: 0.1 lr_policy: "fixed" max_iter: 3 display: 1 random_seed: 1 snapshot_after_train: false`,
		10, Options{Logf: quiet.logf, Rank: 1})
	if err := s1.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(quiet.lines) != 0 {
		t.Errorf("rank 1 logged %q", quiet.lines)
	}
}

// Accumulating the gradient of two batches of 10 equals one batch of 20.
// (Not with clip_gradients: Caffe clips the accumulated sum, before the
// 1/iter_size normalization, so the threshold acts on iter_size × the mean.)
func TestIterSizeEquivalence(t *testing.T) {
	const common = `base_lr: 0.05 momentum: 0.9 weight_decay: 0.001 lr_policy: "fixed" random_seed: 9
		snapshot_after_train: false max_iter: 8 `
	a := newSolver(t, common+"iter_size: 2", 10, Options{})
	b := newSolver(t, common+"iter_size: 1", 20, Options{})
	if err := a.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	wa, wb := weights(a), weights(b)
	moved := false
	for i := range wa {
		for j := range wa[i] {
			if math.Abs(float64(wa[i][j]-wb[i][j])) > 1e-5 {
				t.Fatalf("param %d[%d]: iter_size 2 gives %g, batch 20 gives %g", i, j, wa[i][j], wb[i][j])
			}
		}
	}
	init := newSolver(t, common, 20, Options{})
	for i, w := range weights(init) {
		for j := range w {
			moved = moved || w[j] != wb[i][j]
		}
	}
	if !moved {
		t.Fatal("training did not change the weights")
	}
}

// A run stopped at N and restored from its .solverstate ends bit-identical
// to an uninterrupted run to M, for solvers with one and two history sets,
// a stateful lr policy, iter_size and a data position that wraps the shard.
func TestRestoreBitIdentical(t *testing.T) {
	for _, c := range []struct{ name, sp string }{
		{"SGD-multistep", `type: "SGD" momentum: 0.9 lr_policy: "multistep" gamma: 0.5 stepvalue: 5 stepvalue: 6 stepvalue: 7`},
		{"Adam-itersize", `type: "Adam" momentum: 0.9 momentum2: 0.999 lr_policy: "fixed" iter_size: 2 base_lr: 0.01`},
		{"AdaDelta-L1", `type: "AdaDelta" momentum: 0.95 delta: 1e-6 lr_policy: "step" stepsize: 7 gamma: 0.5 regularization_type: "L1"`},
		{"Nesterov-deprecated-enum", `solver_type: NESTEROV momentum: 0.9 lr_policy: "fixed"`},
		{"RMSProp-MemoryData", `type: "RMSProp" rms_decay: 0.9 lr_policy: "fixed" base_lr: 0.01`},
	} {
		t.Run(c.name, func(t *testing.T) {
			newSolver := newSolver
			if strings.Contains(c.name, "MemoryData") {
				newSolver = newMemorySolver
			}
			dir := t.TempDir()
			base := c.sp + ` weight_decay: 0.001 random_seed: 5 test_iter: 2 test_interval: 10 `
			if !strings.Contains(c.sp, "base_lr") {
				base += ` base_lr: 0.05`
			}
			straight := newSolver(t, base+` max_iter: 25 snapshot_after_train: false`, 10, Options{})
			if err := straight.Solve(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Stop at 13: 13 batches of 10 (x iter_size) wrap the 120-record shard.
			prefix := filepath.Join(dir, "snap")
			first := newSolver(t, base+fmt.Sprintf(` max_iter: 13 snapshot_prefix: %q`, prefix), 10, Options{})
			if err := first.Solve(context.Background()); err != nil {
				t.Fatal(err)
			}
			resumed := newSolver(t, base+` max_iter: 25 snapshot_after_train: false`, 10, Options{})
			if err := resumed.Restore(prefix + "_iter_13.solverstate"); err != nil {
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

// The restored TEST net must see the restored weights (shared storage).
func TestRestoreSharesTestWeights(t *testing.T) {
	dir := t.TempDir()
	sp := fmt.Sprintf(`base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" random_seed: 4 max_iter: 10 test_iter: 6
		test_interval: 100 test_initialization: false snapshot_prefix: %q`, filepath.Join(dir, "m"))
	a := newSolver(t, sp, 10, Options{})
	if err := a.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	ra, err := a.TestAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := newSolver(t, sp, 10, Options{})
	if err := b.Restore(filepath.Join(dir, "m_iter_10.solverstate")); err != nil {
		t.Fatal(err)
	}
	rb, err := b.TestAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range ra[0].Values {
		if ra[0].Values[i][0] != rb[0].Values[i][0] {
			t.Errorf("%s: trained %g, restored %g", ra[0].Names[i], ra[0].Values[i][0], rb[0].Values[i][0])
		}
	}
}

// Snapshots land under their final names only (no temp files), hold the
// weights and Caffe's SolverState, and are written at every `snapshot`
// iterations and at the end.
func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "sub", "tiny")
	var log logBuf
	s := newSolver(t, fmt.Sprintf(`type: "Adam" base_lr: 0.01 lr_policy: "fixed" random_seed: 2 max_iter: 12
		snapshot: 5 snapshot_prefix: %q`, prefix), 10, Options{Logf: log.logf})
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(prefix))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "[tiny_iter_10.caffemodel tiny_iter_10.solverstate tiny_iter_12.caffemodel tiny_iter_12.solverstate tiny_iter_5.caffemodel tiny_iter_5.solverstate]"
	if fmt.Sprint(names) != want {
		t.Fatalf("files %v, want %s", names, want)
	}
	if log.count(`^Snapshotting to binary proto file .*tiny_iter_5.caffemodel$`) != 1 ||
		log.count(`^Snapshotting solver state to binary proto file .*tiny_iter_5.solverstate$`) != 1 {
		t.Errorf("snapshot log lines missing:\n%s", strings.Join(log.lines, "\n"))
	}
	model, err := prototxt.LoadBinaryNet(prefix + "_iter_12.caffemodel")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, l := range model.Layer {
		if l.GetName() == "ip2" {
			found++
			p := s.Net().LearnableParams()
			if len(l.Blobs) != 2 || !equalF32(l.Blobs[0].Data, p[2].Blob.Data) || !equalF32(l.Blobs[1].Data, p[3].Blob.Data) {
				t.Errorf("ip2 blobs in the model differ from the net's weights")
			}
		}
	}
	if found != 1 {
		t.Errorf("model has %d ip2 layers", found)
	}
	st, err := prototxt.LoadSolverState(prefix + "_iter_12.solverstate")
	if err != nil {
		t.Fatal(err)
	}
	if st.GetIter() != 12 || st.GetLearnedNet() != prefix+"_iter_12.caffemodel" || len(st.History) != 8 {
		t.Errorf("state iter %d learned_net %q history %d", st.GetIter(), st.GetLearnedNet(), len(st.History))
	}
	if d := st.History[0].GetShape().GetDim(); fmt.Sprint(d) != "[16 8]" {
		t.Errorf("history 0 shape %v, want [16 8]", d)
	}

	// SaveModel writes the same bytes as the snapshot's model.
	saved := filepath.Join(dir, "final.caffemodel")
	if err := s.SaveModel(saved); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(saved)
	b, _ := os.ReadFile(prefix + "_iter_12.caffemodel")
	if !bytes.Equal(a, b) {
		t.Error("SaveModel differs from the final snapshot")
	}

	// A moved snapshot folder still restores: learned_net is looked up next
	// to the state file.
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(filepath.Dir(prefix), moved); err != nil {
		t.Fatal(err)
	}
	r := newSolver(t, `type: "Adam" base_lr: 0.01 lr_policy: "fixed" random_seed: 2 max_iter: 12`, 10, Options{})
	if err := r.Restore(filepath.Join(moved, "tiny_iter_12.solverstate")); err != nil {
		t.Fatal(err)
	}
	if !equalF32(weights(r)[0], weights(s)[0]) {
		t.Error("restored weights differ")
	}
	// A state from a different solver type is refused, naming the counts.
	sgd := newSolver(t, `type: "SGD" base_lr: 0.01 lr_policy: "fixed" random_seed: 2`, 10, Options{})
	if err := sgd.Restore(filepath.Join(moved, "tiny_iter_12.solverstate")); err == nil || !strings.Contains(err.Error(), "8 history blobs") {
		t.Errorf("restoring an Adam state into SGD: %v", err)
	}

	// Rank 1 writes nothing.
	other := filepath.Join(dir, "rank1")
	s1 := newSolver(t, fmt.Sprintf(`base_lr: 0.01 lr_policy: "fixed" random_seed: 2 max_iter: 4 snapshot: 2 snapshot_prefix: %q`,
		filepath.Join(other, "x")), 10, Options{Rank: 1})
	if err := s1.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rank 1 wrote snapshots: %v", err)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// A training step allocates nothing once warm.
func TestStepAllocs(t *testing.T) {
	s := newSolver(t, `type: "Adam" base_lr: 0.01 lr_policy: "multistep" stepvalue: 100 gamma: 0.1 random_seed: 2
		iter_size: 2 clip_gradients: 100 weight_decay: 0.001 max_iter: 1000 average_loss: 5`, 10,
		Options{Progress: func(Progress) {}})
	ctx := context.Background()
	if err := s.Step(ctx, 3); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := s.Step(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Step allocates %v times per iteration", allocs)
	}
}

// fakeReducer plays `world` identical executors.
type fakeReducer struct {
	world   float64
	ready   map[*net.Param]int
	waits   int
	sums    int
	allSeen bool
	params  []*net.Param
}

func (f *fakeReducer) ParamsReady(ps []*net.Param) {
	for _, p := range ps {
		f.ready[p]++
	}
}
func (f *fakeReducer) Wait() error {
	f.waits++
	f.allSeen = len(f.ready) == len(f.params)
	for _, p := range f.params {
		if f.ready[p] != 1 {
			f.allSeen = false
		}
	}
	clear(f.ready)
	return nil
}
func (f *fakeReducer) SumFloat64(v []float64) error {
	f.sums++
	for i := range v {
		v[i] *= f.world
	}
	return nil
}

// With a Reducer: each param is reported once per iteration (during the
// last of the iter_size passes), Wait once per iteration, and test means
// over identical executors equal the single-executor means.
func TestReducer(t *testing.T) {
	const sp = `base_lr: 0.05 lr_policy: "fixed" random_seed: 6 iter_size: 3 test_iter: 3 test_interval: 4 max_iter: 4
		snapshot_after_train: false`
	red := &fakeReducer{world: 3, ready: map[*net.Param]int{}}
	var log logBuf
	s := newSolver(t, sp+" display: 2", 10, Options{Reducer: red, Logf: log.logf})
	red.params = s.Net().LearnableParams()
	plain := newSolver(t, sp, 10, Options{})
	ctx := context.Background()
	if err := s.Step(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := plain.Step(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if red.waits != 4 || !red.allSeen {
		t.Errorf("waits %d, every param ready once per iteration: %v", red.waits, red.allSeen)
	}
	// 1 test at iteration 0 + 2 displays.
	if red.sums != 3 {
		t.Errorf("%d SumFloat64 calls, want 3", red.sums)
	}
	r1, err := s.TestAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := plain.TestAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r1[0].Values {
		if math.Abs(float64(r1[0].Values[i][0]-r2[0].Values[i][0])) > 1e-6 {
			t.Errorf("%s: with reducer %g, without %g", r1[0].Names[i], r1[0].Values[i][0], r2[0].Values[i][0])
		}
	}
}

// Inline nets: net_param alone (np nil) and train_net_param + test_net_param.
func TestInlineNets(t *testing.T) {
	np := tinyNetParam(t, 10)
	sp := solverParam(t, `base_lr: 0.05 lr_policy: "fixed" random_seed: 6 test_iter: 1 test_interval: 5`)
	sp.NetParam = np
	s, err := New(sp, nil, Options{Sources: opener})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.TestNets()) != 1 || s.TestNets()[0].Phase() != caffepb.Phase_TEST || s.Net().Phase() != caffepb.Phase_TRAIN {
		t.Fatalf("%d test nets", len(s.TestNets()))
	}

	sp = solverParam(t, `base_lr: 0.05 lr_policy: "fixed" random_seed: 6 test_iter: 1 test_iter: 2 test_interval: 5
		test_state { stage: "a" } test_state { stage: "b" }`)
	sp.TrainNetParam = proto.Clone(np).(*caffepb.NetParameter)
	sp.TestNetParam = []*caffepb.NetParameter{proto.Clone(np).(*caffepb.NetParameter), proto.Clone(np).(*caffepb.NetParameter)}
	s2, err := New(sp, nil, Options{Sources: opener})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if len(s2.TestNets()) != 2 {
		t.Fatalf("%d test nets, want 2", len(s2.TestNets()))
	}
	res, err := s2.TestAll(context.Background())
	if err != nil || len(res) != 2 || res[1].Net != 1 {
		t.Fatalf("TestAll: %v %+v", err, res)
	}
}

// Bad solver definitions are errors that say what is wrong.
func TestNewErrors(t *testing.T) {
	for _, c := range []struct{ sp, want string }{
		{`base_lr: 0.1`, "lr_policy is not set"},
		{`base_lr: 0.1 lr_policy: "fixed" type: "Adagrad"`, `unknown solver type "Adagrad"`},
		{`base_lr: 0.1 lr_policy: "fixed" type: "AdaGrad" momentum: 0.9`, "momentum cannot be used with AdaGrad"},
		{`base_lr: 0.1 lr_policy: "fixed" regularization_type: "L3"`, `unknown regularization_type "L3"`},
		{`base_lr: 0.1 lr_policy: "fixed" snapshot: 10`, "snapshot_prefix is not"},
		{`base_lr: 0.1 lr_policy: "fixed" iter_size: 0`, "iter_size"},
		{`base_lr: 0.1 lr_policy: "fixed" test_iter: 5`, "test_interval"},
		{`base_lr: 0.1 lr_policy: "fixed" test_iter: 5 test_interval: 5 test_state { stage: "a" } test_state { stage: "b" }`, "test_state"},
	} {
		_, err := New(solverParam(t, c.sp), tinyNetParam(t, 10), Options{Sources: opener})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.sp, err, c.want)
		}
	}
	if _, err := New(solverParam(t, `base_lr: 0.1 lr_policy: "fixed"`), nil, Options{}); err == nil ||
		!strings.Contains(err.Error(), "no net given") {
		t.Errorf("no net: %v", err)
	}
}

// "test_iter: 0" with "test_interval: 0" (how CaffeOnSpark's own example
// solvers switch testing off) trains without test nets instead of failing;
// a nonzero test_iter without an interval is still an error.
func TestZeroTestIterWithoutInterval(t *testing.T) {
	var log logBuf
	s := newSolver(t, `base_lr: 0.1 lr_policy: "fixed" max_iter: 3 test_iter: 0 test_interval: 0
		test_state { stage: "never" } snapshot_after_train: false`, 10, Options{Logf: log.logf})
	if n := len(s.TestNets()); n != 0 {
		t.Fatalf("%d test nets built, want none", n)
	}
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Iter() != 3 || log.count("Testing net") != 0 || log.count("no testing") != 1 {
		t.Errorf("iter %d, %d test lines, %d notes", s.Iter(), log.count("Testing net"), log.count("no testing"))
	}
	_, err := New(solverParam(t, `base_lr: 0.1 lr_policy: "fixed" test_iter: 0 test_iter: 2`), tinyNetParam(t, 10), Options{Sources: opener})
	if err == nil || !strings.Contains(err.Error(), "test_interval") {
		t.Errorf("test_iter 0 and 2 without test_interval: %v", err)
	}
}

// Cancelling the context stops after the current iteration and snapshots.
func TestSolveCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s := newSolver(t, fmt.Sprintf(`base_lr: 0.05 lr_policy: "fixed" random_seed: 6 max_iter: 1000 snapshot_prefix: %q`,
		filepath.Join(dir, "c")), 10, Options{Progress: func(p Progress) {
		if p.Iter == 7 {
			cancel()
		}
	}})
	err := s.Solve(ctx)
	if !errors.Is(err, context.Canceled) || s.Iter() != 7 {
		t.Fatalf("Solve: %v at iter %d", err, s.Iter())
	}
	if _, err := os.Stat(filepath.Join(dir, "c_iter_7.solverstate")); err != nil {
		t.Errorf("no snapshot on cancel: %v", err)
	}
}

// The loader's output feeds New: a solver file naming its net file, side by
// side, as CaffeOnSpark ships them.
func TestWithLoader(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tiny.prototxt", fmt.Sprintf(tinyNet, 10))
	write("train", "") // data paths must exist for the loader to resolve them
	write("test", "")
	write("solver.prototxt", fmt.Sprintf(`net: "tiny.prototxt" test_iter: 2 test_interval: 5 base_lr: 0.05
		lr_policy: "step" stepsize: 3 gamma: 0.5 momentum: 0.9 max_iter: 6 random_seed: 1 snapshot: 3
		snapshot_prefix: %q solver_type: NESTEROV`, filepath.Join(dir, "out", "tiny")))
	sp, np, err := prototxt.LoadSolverAndNet(filepath.Join(dir, "solver.prototxt"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sp, np, Options{Sources: opener})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Method() != Nesterov || len(s.TestNets()) != 1 {
		t.Fatalf("method %v, %d test nets", s.Method(), len(s.TestNets()))
	}
	if err := s.Solve(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := prototxt.LoadSolverState(filepath.Join(dir, "out", "tiny_iter_6.solverstate"))
	if err != nil {
		t.Fatal(err)
	}
	// step policy: current_step = iter / stepsize at the last update (iter 5).
	if st.GetIter() != 6 || st.GetCurrentStep() != 1 {
		t.Errorf("state iter %d current_step %d, want 6 and 1", st.GetIter(), st.GetCurrentStep())
	}
}
