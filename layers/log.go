package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Log", newLog)
}

// Log is Caffe's Log layer, y = log_base(shift + scale*x), base e when
// log_param.base is -1 (the default). The gradient,
// scale/(ln(base)*(shift+scale*x)), needs x: in place the layer keeps a
// copy (Caffe would read the overwritten bottom).
type Log struct {
	keepsInput
	baseScale, scale, shift float32
}

func newLog(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	lp := p.GetLogParam()
	base := float64(lp.GetBase())
	baseScale := 1.0
	if base != -1 {
		if base <= 0 || base == 1 {
			return nil, layerErr(p, "log_param.base must be -1 (e) or positive and not 1, got %g", base)
		}
		baseScale = 1 / math.Log(base)
	}
	return &Log{keepsInput: keepsInput{lp: p}, baseScale: float32(baseScale), scale: lp.GetScale(), shift: lp.GetShift()}, nil
}

// Type returns "Log".
func (l *Log) Type() string { return "Log" }

// Forward computes y = baseScale * ln(shift + scale*x).
func (l *Log) Forward(bottom, top []*Blob) error {
	x, y := l.keep(bottom, top), top[0].Data
	for i, v := range x {
		y[i] = l.baseScale * float32(math.Log(float64(l.shift+l.scale*v)))
	}
	return nil
}

// Backward writes dx = dy * scale*baseScale / (shift + scale*x).
func (l *Log) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	x := l.input(bottom, top)
	dy, dx := top[0].Diff, bottom[0].Diff
	num := l.scale * l.baseScale
	for i, v := range x {
		dx[i] = dy[i] * num / (l.shift + l.scale*v)
	}
}
