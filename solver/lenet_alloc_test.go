package solver

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"testing"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// mnistLikeSource is an in-memory shard of n random 1×28×28 uint8 images
// with labels 0..9, standing in for the MNIST LMDB.
type mnistLikeSource struct {
	name   string
	pixels [][]byte
	labels []float32
	pos    int
}

func newMNISTLike(name string, n int, seed int64) *mnistLikeSource {
	rng := rand.New(rand.NewSource(seed))
	s := &mnistLikeSource{name: name}
	for i := 0; i < n; i++ {
		px := make([]byte, 28*28)
		for j := range px {
			px[j] = byte(rng.Intn(256))
		}
		s.pixels = append(s.pixels, px)
		s.labels = append(s.labels, float32(rng.Intn(10)))
	}
	return s
}

func (m *mnistLikeSource) Next(s *layers.Sample) error {
	if m.pos >= len(m.pixels) {
		return layers.ErrEndOfData
	}
	i := m.pos
	m.pos++
	s.Key = fmt.Appendf(s.Key[:0], "%08d", i)
	s.Channels, s.Height, s.Width = 1, 28, 28
	s.Data = append(s.Data[:0], m.pixels[i]...)
	s.FloatData = s.FloatData[:0]
	s.Label = m.labels[i]
	s.Encoded = false
	return nil
}
func (m *mnistLikeSource) Rewind() error { m.pos = 0; return nil }
func (m *mnistLikeSource) Len() int      { return len(m.pixels) }
func (m *mnistLikeSource) Name() string  { return m.name }
func (m *mnistLikeSource) Close() error  { return nil }

// A full LeNet training step — the repo's lenet_train_test.prototxt
// unchanged (Data layer with its prefetching, batch 64, real layers), the
// lenet_solver.prototxt settings (SGD with momentum, weight decay, "inv"
// rate) — allocates nothing once warm, with the batch-parallel layer paths
// running on at least two threads.
func TestLeNetStepAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and trains LeNet")
	}
	prev := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	defer runtime.GOMAXPROCS(prev)
	sp, err := prototxt.LoadSolver("../testdata/lenet_solver.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	np, err := prototxt.LoadNet("../testdata/lenet_train_test.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	// No test pass at iteration 0 and no snapshots: just training steps.
	f := false
	sp.TestInitialization = &f
	sp.Snapshot = nil
	opened := 0
	open := func(lp *caffepb.LayerParameter, phase caffepb.Phase) (layers.Source, error) {
		opened++
		// 200 records: batches of 64 wrap around the shard every few
		// steps, so rewinding is part of what is measured.
		return newMNISTLike(lp.GetDataParam().GetSource(), 200, int64(phase)+1), nil
	}
	s, err := New(sp, np, Options{Sources: open, Progress: func(Progress) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if opened == 0 || s.Net().BatchSize() != 64 {
		t.Fatalf("net not built as expected: %d sources opened, batch size %d", opened, s.Net().BatchSize())
	}
	ctx := context.Background()
	if err := s.Step(ctx, 3); err != nil {
		t.Fatal(err)
	}
	w := s.Net().LearnableParams()[0].Blob.Data[0]
	allocs := testing.AllocsPerRun(10, func() {
		if err := s.Step(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("a LeNet training step allocates %v times", allocs)
	}
	if s.Iter() != 3+11 {
		t.Errorf("iteration %d after 3+11 steps", s.Iter())
	}
	if s.Net().LearnableParams()[0].Blob.Data[0] == w {
		t.Error("the steps did not change conv1's weights")
	}
}
