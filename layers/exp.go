package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Exp", newExp)
}

// Exp is Caffe's Exp layer, y = base^(shift + scale*x), base e when
// exp_param.base is -1 (the default). It is computed as
// outer * exp(inner*x) with inner = ln(base)*scale and outer = base^shift,
// so the gradient is inner*y. In place is allowed.
type Exp struct {
	lp           *caffepb.LayerParameter
	inner, outer float32
}

func newExp(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	ep := p.GetExpParam()
	base, scale, shift := float64(ep.GetBase()), float64(ep.GetScale()), float64(ep.GetShift())
	logBase := 1.0
	if base != -1 {
		if base <= 0 {
			return nil, layerErr(p, "exp_param.base must be -1 (e) or positive, got %g", base)
		}
		logBase = math.Log(base)
	}
	l := &Exp{lp: p, inner: float32(logBase * scale), outer: 1}
	if shift != 0 {
		l.outer = float32(math.Exp(logBase * shift))
	}
	if math.IsInf(float64(l.outer), 0) {
		return nil, layerErr(p, "exp_param: base^shift overflows (base %g, shift %g)", base, shift)
	}
	return l, nil
}

// Type returns "Exp".
func (l *Exp) Type() string { return "Exp" }

// Params returns nil: Exp has no learnable blobs.
func (l *Exp) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *Exp) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *Exp) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	return nil
}

// Forward computes y = outer * exp(inner*x).
func (l *Exp) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	for i, v := range x {
		y[i] = l.outer * float32(math.Exp(float64(l.inner*v)))
	}
	return nil
}

// Backward writes dx = dy * inner * y; it needs only y, so in place works.
func (l *Exp) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	y, dy := top[0].Data[:top[0].Count()], top[0].Diff
	dx := bottom[0].Diff
	for i, v := range y {
		dx[i] = dy[i] * v * l.inner
	}
}
