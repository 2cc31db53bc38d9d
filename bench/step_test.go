package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
	"github.com/cos-project/cos/solver"
	"google.golang.org/protobuf/proto"
)

// synthSource is an endless in-memory MNIST-shaped shard: timing does not
// depend on pixel values, and the benchmark must not need the LMDBs.
type synthSource struct {
	c, h, w int
	imgs    [][]byte
	labels  []float32
	pos     int
}

func newSynth(n, c, h, w int) *synthSource {
	r := rand.New(rand.NewPCG(1, 2))
	s := &synthSource{c: c, h: h, w: w}
	for i := 0; i < n; i++ {
		img := make([]byte, c*h*w)
		for j := range img {
			img[j] = byte(r.IntN(256))
		}
		s.imgs = append(s.imgs, img)
		s.labels = append(s.labels, float32(r.IntN(10)))
	}
	return s
}

func (s *synthSource) Next(out *layers.Sample) error {
	i := s.pos % len(s.imgs)
	s.pos++
	// Caffe's "%08d" keys, without fmt's allocation per record.
	out.Key = append(out.Key[:0], "00000000"...)
	for j, v := len(out.Key)-1, i; j >= 0 && v > 0; j, v = j-1, v/10 {
		out.Key[j] = byte('0' + v%10)
	}
	out.Channels, out.Height, out.Width = s.c, s.h, s.w
	out.Data = append(out.Data[:0], s.imgs[i]...)
	out.FloatData = out.FloatData[:0]
	out.Label = s.labels[i]
	out.Encoded = false
	return nil
}
func (s *synthSource) Rewind() error { s.pos = 0; return nil }
func (s *synthSource) Len() int      { return len(s.imgs) }
func (s *synthSource) Name() string  { return "synthetic" }
func (s *synthSource) Close() error  { return nil }

func testdata(name string) string { return filepath.Join("..", "testdata", name) }

// quiet makes a solver that only trains: no test passes, display or
// snapshots inside the timed iterations.
func quiet(sp *caffepb.SolverParameter) {
	sp.TestIter = nil
	sp.TestInterval = proto.Int32(0)
	sp.TestInitialization = proto.Bool(false)
	sp.Display = proto.Int32(0)
	sp.Snapshot = proto.Int32(0)
	sp.SnapshotAfterTrain = proto.Bool(false)
	sp.MaxIter = proto.Int32(1 << 30)
	sp.Net, sp.NetParam, sp.TrainNet, sp.TrainNetParam = nil, nil, nil, nil
	sp.TestNet, sp.TestNetParam = nil, nil
}

// trainOnly drops TEST-phase layers so no test net is built.
func trainOnly(np *caffepb.NetParameter) {
	var keep []*caffepb.LayerParameter
	for _, l := range np.Layer {
		test := false
		for _, r := range l.Include {
			if r.GetPhase() == caffepb.Phase_TEST {
				test = true
			}
		}
		if !test {
			keep = append(keep, l)
		}
	}
	np.Layer = keep
}

func lenetSolver(tb testing.TB) (*solver.Solver, int) {
	sp, err := prototxt.LoadSolver(testdata("lenet_solver.prototxt"))
	if err != nil {
		tb.Fatal(err)
	}
	np, err := prototxt.LoadNet(testdata("lenet_train_test.prototxt"))
	if err != nil {
		tb.Fatal(err)
	}
	quiet(sp)
	trainOnly(np)
	open := func(*caffepb.LayerParameter, caffepb.Phase) (layers.Source, error) {
		return newSynth(640, 1, 28, 28), nil
	}
	s, err := solver.New(sp, np, solver.Options{Sources: open})
	if err != nil {
		tb.Fatal(err)
	}
	return s, 64
}

func cifarSolver(tb testing.TB) (*solver.Solver, int) {
	const batch = 100
	np, err := prototxt.LoadNet(testdata("cifar10_quick_train_test.prototxt"))
	if err != nil {
		tb.Fatal(err)
	}
	trainOnly(np)
	for _, l := range np.Layer {
		if l.GetType() == "Input" {
			for _, sh := range l.GetInputParam().GetShape() {
				sh.Dim[0] = batch
			}
		}
	}
	// Caffe's cifar10_quick_solver.prototxt.
	sp := &caffepb.SolverParameter{
		BaseLr: proto.Float32(0.001), Momentum: proto.Float32(0.9), WeightDecay: proto.Float32(0.004),
		LrPolicy: proto.String("fixed"),
	}
	quiet(sp)
	s, err := solver.New(sp, np, solver.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	// Input layers leave the data to the caller: random images, labels in range.
	r := rand.New(rand.NewPCG(3, 4))
	n := s.Net()
	for _, v := range []string{"data", "label"} {
		b := n.BlobByName(v)
		if b == nil {
			tb.Fatalf("cifar10_quick: no blob %q", v)
		}
		for i := range b.Data[:b.Count()] {
			if v == "data" {
				b.Data[i] = float32(r.NormFloat64())
			} else {
				b.Data[i] = float32(r.IntN(10))
			}
		}
	}
	return s, batch
}

// timeSteps reports the best ms per training iteration over rounds of
// iters iterations (the least disturbed round on a shared machine), the
// heap allocations per iteration, and the per-layer forward / backward
// times of the last round.
func timeSteps(b *testing.B, name string, mk func(testing.TB) (*solver.Solver, int)) {
	s, batch := mk(b)
	ctx := context.Background()
	step := func(n int) {
		if err := s.Step(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
	step(20) // warm-up: buffers, pools, prefetch
	iters, rounds := 50, 5
	if v := os.Getenv("COS_BENCH_ITERS"); v != "" {
		fmt.Sscan(v, &iters)
	}
	best := time.Duration(1 << 62)
	var ms0, ms1 runtime.MemStats
	n := s.Net()
	// Per-layer times are the minimum over rounds too (timing costs two
	// clock reads per layer call, negligible next to a layer).
	n.EnableTimings(true)
	var layerBest []solverLayer
	for r := 0; r < rounds; r++ {
		n.ResetTimings()
		runtime.ReadMemStats(&ms0)
		t0 := time.Now()
		step(iters)
		d := time.Since(t0) / time.Duration(iters)
		runtime.ReadMemStats(&ms1)
		best = min(best, d)
		for i, t := range n.Timings() {
			f := t.Forward / time.Duration(max(1, t.ForwardCalls))
			bk := t.Backward / time.Duration(max(1, t.BackwardCalls))
			if r == 0 {
				layerBest = append(layerBest, solverLayer{t.Name, t.Type, f, bk})
				continue
			}
			layerBest[i].fwd = min(layerBest[i].fwd, f)
			layerBest[i].bwd = min(layerBest[i].bwd, bk)
		}
	}
	n.EnableTimings(false)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(iters)
	fmt.Printf("cos_%s threads=%d batch=%d ms_per_iter=%.3f allocs_per_iter=%.1f blas=%s\n",
		name, runtime.GOMAXPROCS(0), batch, float64(best.Microseconds())/1e3, allocs, blas.Impl())
	var fwd, bwd time.Duration
	for _, l := range layerBest {
		fwd += l.fwd
		bwd += l.bwd
		fmt.Printf("cos_%s_layer %-10s %-20s forward: %8.3f ms  backward: %8.3f ms\n", name, l.name, l.typ, ms(l.fwd), ms(l.bwd))
	}
	fmt.Printf("cos_%s_total forward: %.3f ms  backward: %.3f ms  (sum of per-layer bests; the rest of ms_per_iter is the solver update and data)\n", name, ms(fwd), ms(bwd))
	b.ReportMetric(float64(best.Microseconds())/1e3, "ms/iter")
}

type solverLayer struct {
	name, typ string
	fwd, bwd  time.Duration
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func BenchmarkTrainStep(b *testing.B) {
	nets := []struct {
		name string
		mk   func(testing.TB) (*solver.Solver, int)
	}{{"lenet", lenetSolver}, {"cifar10_quick", cifarSolver}}
	for _, nt := range nets {
		b.Run(nt.name, func(b *testing.B) {
			for b.Loop() {
				timeSteps(b, nt.name, nt.mk)
			}
		})
	}
}

// TestTrainStepsBuild keeps the benchmark's setup honest in the normal test
// run: both nets build and take a training step with synthetic data.
func TestTrainStepsBuild(t *testing.T) {
	for _, mk := range []func(testing.TB) (*solver.Solver, int){lenetSolver, cifarSolver} {
		s, _ := mk(t)
		if err := s.Step(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if s.Iter() != 1 {
			t.Fatalf("iter = %d after one step", s.Iter())
		}
	}
}

// TestTrainStepsAllocateNothing: a warmed-up training step of either
// benchmarked net, data prefetch and solver update included, allocates
// nothing (issue 7), whatever paths its layers take on this machine
// (Winograd, the whole-plane pooling kernels, the direct convolution).
func TestTrainStepsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for name, mk := range map[string]func(testing.TB) (*solver.Solver, int){"lenet": lenetSolver, "cifar10_quick": cifarSolver} {
		s, _ := mk(t)
		ctx := context.Background()
		if err := s.Step(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(10, func() {
			if err := s.Step(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per training step", name, a)
		}
	}
}
