package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("BNLL", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &BNLL{lp: p}, nil
	})
}

// bnllThreshold caps exp's argument in the gradient as Caffe does.
const bnllThreshold = 50

// BNLL is Caffe's BNLL ("binomial normal log likelihood") layer,
// y = ln(1 + e^x), computed as x + ln(1 + e^-x) for x > 0 so it cannot
// overflow. The gradient is the sigmoid of x, so in place the layer keeps
// a copy of x.
type BNLL struct {
	lp    *caffepb.LayerParameter
	saved []float32 // x, kept in place only
}

// Type returns "BNLL".
func (l *BNLL) Type() string { return "BNLL" }

// Params returns nil: BNLL has no learnable blobs.
func (l *BNLL) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *BNLL) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape and, in place, sizes the copy of x.
func (l *BNLL) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	if top[0] == bottom[0] {
		l.saved = ensureLen(l.saved, bottom[0].Count())
	}
	return nil
}

// Forward computes y = ln(1 + e^x).
func (l *BNLL) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	if top[0] == bottom[0] {
		copy(l.saved, x)
	}
	for i, v := range x {
		f := float64(v)
		if f > 0 {
			y[i] = float32(f + math.Log1p(math.Exp(-f)))
		} else {
			y[i] = float32(math.Log1p(math.Exp(f)))
		}
	}
	return nil
}

// Backward writes dx = dy * e^x/(1+e^x).
func (l *BNLL) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	x := bottom[0].Data[:bottom[0].Count()]
	if top[0] == bottom[0] {
		x = l.saved
	}
	dy, dx := top[0].Diff, bottom[0].Diff
	for i, v := range x {
		e := math.Exp(math.Min(float64(v), bnllThreshold))
		dx[i] = dy[i] * float32(e/(e+1))
	}
}
