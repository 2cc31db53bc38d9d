package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Sigmoid", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Sigmoid{lp: p}, nil
	})
	Register("TanH", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &TanH{lp: p}, nil
	})
	Register("AbsVal", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &AbsVal{keepsInput{lp: p}}, nil
	})
}

// This file also holds the small helpers shared by the elementwise
// ("neuron") layers of this family: one bottom, one top of the same shape,
// possibly the same blob (in-place computation).

// neuronReshape gives the top the bottom's shape; in place there is nothing
// to do, the blob is both.
func neuronReshape(bottom, top []*Blob) {
	if top[0] != bottom[0] {
		top[0].ReshapeLike(bottom[0])
	}
}

// ensureLen returns buf resized to n elements, reallocating only when its
// capacity is too small (Reshape time, never in Forward/Backward).
func ensureLen(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// keepsInput is the shared part of elementwise layers whose Backward reads
// x: one bottom, one top of its shape, and, when they compute in place
// (top == bottom), a copy of x that Forward takes before overwriting it.
type keepsInput struct {
	lp    *caffepb.LayerParameter
	saved []float32 // x, kept only when computing in place
}

// Params returns nil: these layers have no learnable blobs.
func (l *keepsInput) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *keepsInput) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape and, in place, sizes the copy of x.
func (l *keepsInput) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	if top[0] == bottom[0] {
		l.saved = ensureLen(l.saved, bottom[0].Count())
	}
	return nil
}

// keep returns x for Forward, first copying it when computing in place.
func (l *keepsInput) keep(bottom, top []*Blob) []float32 {
	x := bottom[0].Data[:bottom[0].Count()]
	if top[0] == bottom[0] {
		copy(l.saved, x)
	}
	return x
}

// input returns x for Backward: the copy when in place, else the bottom.
func (l *keepsInput) input(bottom, top []*Blob) []float32 {
	if top[0] == bottom[0] {
		return l.saved
	}
	return bottom[0].Data[:bottom[0].Count()]
}

// propagates reports whether bottom i asked for a gradient.
func propagates(propagateDown []bool, i int) bool {
	return i < len(propagateDown) && propagateDown[i]
}

// phaseOfLayer is the phase a layer runs in: the LayerParameter's own phase
// when the prototxt sets one (Caffe's Net keeps an explicit layer phase),
// otherwise the net's.
func phaseOfLayer(p *caffepb.LayerParameter, ctx *Context) caffepb.Phase {
	if p != nil && p.Phase != nil {
		return p.GetPhase()
	}
	if ctx != nil {
		return ctx.Phase
	}
	return caffepb.Phase_TRAIN
}

// Sigmoid is Caffe's Sigmoid layer, y = 1/(1+exp(-x)), computed as
// 0.5*tanh(0.5x)+0.5 as Caffe does, which cannot overflow. In-place safe:
// the gradient needs only y.
type Sigmoid struct {
	lp *caffepb.LayerParameter
}

// Type returns "Sigmoid".
func (l *Sigmoid) Type() string { return "Sigmoid" }

// Params returns nil: Sigmoid has no learnable blobs.
func (l *Sigmoid) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *Sigmoid) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *Sigmoid) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	return nil
}

// Forward computes y = sigmoid(x).
func (l *Sigmoid) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data[:bottom[0].Count()]
	for i := range y {
		y[i] = float32(0.5*math.Tanh(0.5*float64(x[i])) + 0.5)
	}
	return nil
}

// Backward computes dx = dy * y * (1-y).
func (l *Sigmoid) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	y, dy, dx := top[0].Data, top[0].Diff, bottom[0].Diff[:top[0].Count()]
	for i := range dx {
		dx[i] = dy[i] * y[i] * (1 - y[i])
	}
}

// TanH is Caffe's TanH layer, y = tanh(x). In-place safe.
type TanH struct {
	lp *caffepb.LayerParameter
}

// Type returns "TanH".
func (l *TanH) Type() string { return "TanH" }

// Params returns nil: TanH has no learnable blobs.
func (l *TanH) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *TanH) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *TanH) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	return nil
}

// Forward computes y = tanh(x).
func (l *TanH) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data[:bottom[0].Count()]
	for i := range y {
		y[i] = float32(math.Tanh(float64(x[i])))
	}
	return nil
}

// Backward computes dx = dy * (1 - y²).
func (l *TanH) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	y, dy, dx := top[0].Data, top[0].Diff, bottom[0].Diff[:top[0].Count()]
	for i := range dx {
		dx[i] = dy[i] * (1 - y[i]*y[i])
	}
}

// AbsVal is Caffe's AbsVal layer, y = |x|, with gradient sign(x) (0 at 0,
// as Caffe's caffe_cpu_sign). Caffe refuses in-place AbsVal because |x|
// forgets the sign; here in place is allowed and the layer keeps a copy of
// x for Backward.
type AbsVal struct{ keepsInput }

// Type returns "AbsVal".
func (l *AbsVal) Type() string { return "AbsVal" }

// Forward computes y = |x|.
func (l *AbsVal) Forward(bottom, top []*Blob) error {
	x, y := l.keep(bottom, top), top[0].Data
	for i, v := range x {
		if v < 0 {
			v = -v
		}
		y[i] = v
	}
	return nil
}

// Backward computes dx = dy * sign(x).
func (l *AbsVal) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	x := l.input(bottom, top)
	dy, dx := top[0].Diff, bottom[0].Diff[:bottom[0].Count()]
	for i := range dx {
		switch {
		case x[i] > 0:
			dx[i] = dy[i]
		case x[i] < 0:
			dx[i] = -dy[i]
		default:
			dx[i] = 0
		}
	}
}
