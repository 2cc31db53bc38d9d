package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("BNLL", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &BNLL{keepsInput{lp: p}}, nil
	})
}

// bnllThreshold caps exp's argument in the gradient as Caffe does.
const bnllThreshold = 50

// BNLL is Caffe's BNLL ("binomial normal log likelihood") layer,
// y = ln(1 + e^x), computed as x + ln(1 + e^-x) for x > 0 so it cannot
// overflow. The gradient is the sigmoid of x, so in place the layer keeps
// a copy of x.
type BNLL struct{ keepsInput }

// Type returns "BNLL".
func (l *BNLL) Type() string { return "BNLL" }

// Forward computes y = ln(1 + e^x).
func (l *BNLL) Forward(bottom, top []*Blob) error {
	x, y := l.keep(bottom, top), top[0].Data
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
	x := l.input(bottom, top)
	dy, dx := top[0].Diff, bottom[0].Diff
	for i, v := range x {
		e := math.Exp(math.Min(float64(v), bnllThreshold))
		dx[i] = dy[i] * float32(e/(e+1))
	}
}
