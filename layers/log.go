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
	lp                      *caffepb.LayerParameter
	baseScale, scale, shift float32
	saved                   []float32 // x, kept in place only
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
	return &Log{lp: p, baseScale: float32(baseScale), scale: lp.GetScale(), shift: lp.GetShift()}, nil
}

// Type returns "Log".
func (l *Log) Type() string { return "Log" }

// Params returns nil: Log has no learnable blobs.
func (l *Log) Params() []*Blob { return nil }

// Setup checks for one bottom and one top and shapes the top.
func (l *Log) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape and, in place, sizes the copy of x.
func (l *Log) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	if top[0] == bottom[0] {
		l.saved = ensureLen(l.saved, bottom[0].Count())
	}
	return nil
}

// Forward computes y = baseScale * ln(shift + scale*x).
func (l *Log) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	if top[0] == bottom[0] {
		copy(l.saved, x)
	}
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
	x := bottom[0].Data[:bottom[0].Count()]
	if top[0] == bottom[0] {
		x = l.saved
	}
	dy, dx := top[0].Diff, bottom[0].Diff
	num := l.scale * l.baseScale
	for i, v := range x {
		dx[i] = dy[i] * num / (l.shift + l.scale*v)
	}
}
