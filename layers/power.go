package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Power", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		pp := p.GetPowerParam()
		l := &Power{lp: p, power: pp.GetPower(), scale: pp.GetScale(), shift: pp.GetShift()}
		l.diffScale = l.power * l.scale
		return l, nil
	})
}

// Power is Caffe's Power layer, y = (shift + scale*x)^power.
//
// As in Caffe, when power*scale is 0 the output is the constant
// (power == 0 ? 1 : shift^power) and the gradient is 0. The gradient is
// power*scale*(shift+scale*x)^(power-1), computed directly rather than as
// Caffe's y/(shift+scale*x), so it is finite where the base is 0 and
// power >= 1. In place is allowed: when the gradient needs x the layer keeps
// a copy.
type Power struct {
	lp                             *caffepb.LayerParameter
	power, scale, shift, diffScale float32
	saved                          []float32 // x, kept only in place when Backward needs it
}

// Type returns "Power".
func (l *Power) Type() string { return "Power" }

// Params returns nil: Power has no learnable blobs.
func (l *Power) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *Power) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// needsX reports whether the gradient depends on x.
func (l *Power) needsX() bool { return l.diffScale != 0 && l.power != 1 }

// Reshape gives the top the bottom's shape and, in place, sizes the copy of x.
func (l *Power) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	if top[0] == bottom[0] && l.needsX() {
		l.saved = ensureLen(l.saved, bottom[0].Count())
	}
	return nil
}

// Forward computes y = (shift + scale*x)^power.
func (l *Power) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	if l.diffScale == 0 {
		v := float32(1)
		if l.power != 0 {
			v = float32(math.Pow(float64(l.shift), float64(l.power)))
		}
		for i := range x {
			y[i] = v
		}
		return nil
	}
	if top[0] == bottom[0] && l.needsX() {
		copy(l.saved, x)
	}
	switch l.power {
	case 1:
		for i, v := range x {
			y[i] = l.shift + l.scale*v
		}
	case 2:
		for i, v := range x {
			b := l.shift + l.scale*v
			y[i] = b * b
		}
	default:
		p := float64(l.power)
		for i, v := range x {
			y[i] = float32(math.Pow(float64(l.shift+l.scale*v), p))
		}
	}
	return nil
}

// Backward computes dx = dy * power*scale*(shift+scale*x)^(power-1).
func (l *Power) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	dy, dx := top[0].Diff, bottom[0].Diff[:bottom[0].Count()]
	if !l.needsX() {
		// power == 1 or power*scale == 0: the derivative is the constant power*scale.
		for i := range dx {
			dx[i] = l.diffScale * dy[i]
		}
		return
	}
	x := bottom[0].Data
	if top[0] == bottom[0] {
		x = l.saved
	}
	if l.power == 2 {
		for i := range dx {
			dx[i] = dy[i] * l.diffScale * (l.shift + l.scale*x[i])
		}
		return
	}
	p := float64(l.power - 1)
	for i := range dx {
		dx[i] = dy[i] * l.diffScale * float32(math.Pow(float64(l.shift+l.scale*x[i]), p))
	}
}
