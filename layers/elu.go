package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("ELU", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &ELU{lp: p, alpha: p.GetEluParam().GetAlpha()}, nil
	})
}

// ELU is Caffe's ELU layer: y = x for x > 0, alpha*(exp(x)-1) otherwise.
// The gradient is dy for x > 0 and dy*(y+alpha) otherwise, as in Caffe. In
// place is safe for alpha >= 0: y > 0 exactly when x > 0, so the sign test
// gives the same answer on y.
type ELU struct {
	lp    *caffepb.LayerParameter
	alpha float32
}

// Type returns "ELU".
func (l *ELU) Type() string { return "ELU" }

// Params returns nil: ELU has no learnable blobs.
func (l *ELU) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *ELU) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	if top[0] == bottom[0] && l.alpha < 0 {
		return layerErr(l.lp, "in-place computation needs alpha >= 0 (got %g): with a negative alpha the sign of x cannot be read back from y", l.alpha)
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *ELU) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	return nil
}

// Forward computes the ELU.
func (l *ELU) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	a := float64(l.alpha)
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = float32(a * math.Expm1(float64(v)))
		}
	}
	return nil
}

// Backward computes dx = dy for x > 0 and dy*(y+alpha) otherwise.
func (l *ELU) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	x, y, dy, dx := bottom[0].Data, top[0].Data, top[0].Diff, bottom[0].Diff[:bottom[0].Count()]
	for i := range dx {
		if x[i] > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = dy[i] * (y[i] + l.alpha)
		}
	}
}
