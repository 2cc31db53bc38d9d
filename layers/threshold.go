package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Threshold", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Threshold{lp: p, threshold: p.GetThresholdParam().GetThreshold()}, nil
	})
}

// Threshold is Caffe's Threshold layer, y = 1 if x > threshold else 0.
// Caffe has no backward for it (a fatal error if a gradient is asked for);
// here the gradient is the true one, 0 everywhere it exists, so a net that
// routes a gradient through it trains instead of crashing.
type Threshold struct {
	lp        *caffepb.LayerParameter
	threshold float32
}

// Type returns "Threshold".
func (l *Threshold) Type() string { return "Threshold" }

// Params returns nil: Threshold has no learnable blobs.
func (l *Threshold) Params() []*Blob { return nil }

// AllowForceBackward is false: the gradient is identically zero.
func (l *Threshold) AllowForceBackward(i int) bool { return false }

// Setup checks for one bottom and one top and shapes the top.
func (l *Threshold) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape.
func (l *Threshold) Reshape(bottom, top []*Blob) error {
	neuronReshape(bottom, top)
	return nil
}

// Forward computes the step function.
func (l *Threshold) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	for i, v := range x {
		if v > l.threshold {
			y[i] = 1
		} else {
			y[i] = 0
		}
	}
	return nil
}

// Backward writes a zero gradient.
func (l *Threshold) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if propagates(propagateDown, 0) {
		clear(bottom[0].Diff[:bottom[0].Count()])
	}
}
