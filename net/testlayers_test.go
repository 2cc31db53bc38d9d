package net

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Test-only layers, registered under names no real layer uses, so the net's
// tests do not depend on which real layers exist yet.

func init() {
	layers.Register("TestScale", func(p *caffepb.LayerParameter, ctx *layers.Context) (layers.Layer, error) {
		return &testScale{rng: ctx.Rand}, nil
	})
	layers.Register("TestSquareLoss", func(p *caffepb.LayerParameter, ctx *layers.Context) (layers.Layer, error) {
		return &testSquareLoss{}, nil
	})
	layers.Register("TestPanic", func(p *caffepb.LayerParameter, ctx *layers.Context) (layers.Layer, error) {
		return &testPanic{}, nil
	})
	layers.Register("TestKeyedData", func(p *caffepb.LayerParameter, ctx *layers.Context) (layers.Layer, error) {
		return &testKeyedData{}, nil
	})
}

// testScale multiplies each sample elementwise by a learned weight w of the
// shape of one sample: y[n,i] = w[i] x[n,i].
type testScale struct {
	rng *rand.Rand
	w   *layers.Blob
	x   []float32 // the input, kept when working in place
}

func (l *testScale) Type() string           { return "TestScale" }
func (l *testScale) Params() []*layers.Blob { return []*layers.Blob{l.w} }
func (l *testScale) Setup(bottom, top []*layers.Blob) error {
	l.w = layers.NewBlob(bottom[0].Shape()[1:]...)
	for i := range l.w.Data {
		l.w.Data[i] = 0.5 + l.rng.Float32()
	}
	return l.Reshape(bottom, top)
}
func (l *testScale) Reshape(bottom, top []*layers.Blob) error {
	if bottom[0].CountFrom(1) != l.w.Count() {
		return fmt.Errorf("bottom has %d values per sample, w has %d", bottom[0].CountFrom(1), l.w.Count())
	}
	top[0].ReshapeLike(bottom[0])
	l.x = make([]float32, bottom[0].Count())
	return nil
}
func (l *testScale) Forward(bottom, top []*layers.Blob) error {
	copy(l.x, bottom[0].Data)
	d := l.w.Count()
	for i, x := range bottom[0].Data[:bottom[0].Count()] {
		top[0].Data[i] = l.w.Data[i%d] * x
	}
	return nil
}
func (l *testScale) Backward(top []*layers.Blob, pd []bool, bottom []*layers.Blob) {
	d := l.w.Count()
	n := bottom[0].Count()
	for i := 0; i < n; i++ {
		l.w.Diff[i%d] += top[0].Diff[i] * l.x[i]
	}
	if pd[0] {
		for i := 0; i < n; i++ {
			bottom[0].Diff[i] = top[0].Diff[i] * l.w.Data[i%d]
		}
	}
}

// testSquareLoss is 0.5/N sum (x - t)^2 over bottom 0 (N = num), t being
// bottom 1 when given (a target that takes no gradient), else 0.
type testSquareLoss struct{}

func (l *testSquareLoss) Type() string                    { return "TestSquareLoss" }
func (l *testSquareLoss) Params() []*layers.Blob          { return nil }
func (l *testSquareLoss) IsLoss() bool                    { return true }
func (l *testSquareLoss) AllowForceBackward(i int) bool   { return i == 0 }
func (l *testSquareLoss) Setup(b, t []*layers.Blob) error { return l.Reshape(b, t) }
func (l *testSquareLoss) Reshape(bottom, top []*layers.Blob) error {
	top[0].Reshape()
	return nil
}
func (l *testSquareLoss) diff(bottom []*layers.Blob, i int) float32 {
	v := bottom[0].Data[i]
	if len(bottom) > 1 {
		v -= bottom[1].Data[i]
	}
	return v
}
func (l *testSquareLoss) Forward(bottom, top []*layers.Blob) error {
	var s float32
	for i := 0; i < bottom[0].Count(); i++ {
		d := l.diff(bottom, i)
		s += d * d
	}
	top[0].Data[0] = 0.5 * s / float32(bottom[0].Num())
	return nil
}
func (l *testSquareLoss) Backward(top []*layers.Blob, pd []bool, bottom []*layers.Blob) {
	if len(pd) > 1 && pd[1] {
		panic("testSquareLoss: asked to propagate to its target")
	}
	if !pd[0] {
		return
	}
	scale := top[0].Diff[0] / float32(bottom[0].Num())
	for i := 0; i < bottom[0].Count(); i++ {
		bottom[0].Diff[i] = scale * l.diff(bottom, i)
	}
}

// testKeyedData produces a 3×2 batch with record keys and counts Close calls.
type testKeyedData struct {
	keys   []string
	closed int
}

func (l *testKeyedData) Type() string           { return "TestKeyedData" }
func (l *testKeyedData) Params() []*layers.Blob { return nil }
func (l *testKeyedData) Setup(b, t []*layers.Blob) error {
	l.keys = []string{"00000000", "00000001", "00000002"}
	return l.Reshape(b, t)
}
func (l *testKeyedData) Reshape(b, t []*layers.Blob) error { t[0].Reshape(3, 2); return nil }
func (l *testKeyedData) Forward(b, t []*layers.Blob) error {
	for i := range t[0].Data {
		t[0].Data[i] = float32(i)
	}
	return nil
}
func (l *testKeyedData) Backward(t []*layers.Blob, pd []bool, b []*layers.Blob) {}
func (l *testKeyedData) Keys() []string                                         { return l.keys }
func (l *testKeyedData) Close() error                                           { l.closed++; return nil }

// parse parses a net prototxt written in a test.
func parse(t testing.TB, text string) *caffepb.NetParameter {
	t.Helper()
	p, err := prototxt.ParseNet([]byte(text), t.Name()+".prototxt")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// build builds a net for a phase with a fixed seed.
func build(t testing.TB, text string, phase caffepb.Phase, seed int64) *Net {
	t.Helper()
	n, err := New(parse(t, text), &layers.Context{Phase: phase, Rand: rand.New(rand.NewSource(seed))})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fillInputs writes deterministic values into every Input top: labels
// (blobs named "label*") get class indices below classes, the rest
// Gaussian values.
func fillInputs(n *Net, seed int64, classes int) {
	rng := rand.New(rand.NewSource(seed))
	for i, nd := range n.nodes {
		if nd.layer.Type() != "Input" {
			continue
		}
		for _, b := range n.TopBlobs(i) {
			for j := range b.Data {
				if len(b.Name) >= 5 && b.Name[:5] == "label" {
					b.Data[j] = float32(rng.Intn(classes))
				} else {
					b.Data[j] = float32(rng.NormFloat64())
				}
			}
		}
	}
}

// testPanic panics in Setup, like a layer with a bug.
type testPanic struct{ testKeyedData }

func (l *testPanic) Type() string                    { return "TestPanic" }
func (l *testPanic) Setup(b, t []*layers.Blob) error { panic("kaboom") }
