package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("EuclideanLoss", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &EuclideanLoss{lp: p}, nil
	})
}

// EuclideanLoss is Caffe's EuclideanLoss layer:
// loss = 1/(2N) Σ (a - b)², N being the batch size (axis 0), for two
// bottoms with the same count per sample. Both bottoms get a gradient,
// ±loss_weight/N * (a - b), the loss weight read from top[0].Diff[0].
type EuclideanLoss struct {
	lp   *caffepb.LayerParameter
	diff []float32 // a - b
}

// Type returns "EuclideanLoss".
func (l *EuclideanLoss) Type() string { return "EuclideanLoss" }

// Params returns nil: EuclideanLoss has no learnable blobs.
func (l *EuclideanLoss) Params() []*Blob { return nil }

// IsLoss reports true: top[0] gets a loss_weight of 1 by default.
func (l *EuclideanLoss) IsLoss() bool { return true }

// AllowForceBackward is true for both bottoms: both are differentiable.
func (l *EuclideanLoss) AllowForceBackward(i int) bool { return true }

// Setup checks the blobs and shapes the scalar top.
func (l *EuclideanLoss) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, 2, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks that the bottoms agree and sizes the difference buffer.
func (l *EuclideanLoss) Reshape(bottom, top []*Blob) error {
	a, b := bottom[0], bottom[1]
	if a.NumAxes() == 0 || b.NumAxes() == 0 || a.Shape()[0] != b.Shape()[0] {
		return layerErr(l.lp, "the data and label should have the same first dimension: bottom[0] %q %v, bottom[1] %q %v", a.Name, a.Shape(), b.Name, b.Shape())
	}
	if a.CountFrom(1) != b.CountFrom(1) {
		return layerErr(l.lp, "inputs must have the same dimension: bottom[0] %q %v has %d values per sample, bottom[1] %q %v has %d",
			a.Name, a.Shape(), a.CountFrom(1), b.Name, b.Shape(), b.CountFrom(1))
	}
	top[0].Reshape()
	l.diff = ensureLen(l.diff, a.Count())
	return nil
}

// Forward computes the loss.
func (l *EuclideanLoss) Forward(bottom, top []*Blob) error {
	a, b := bottom[0].Data, bottom[1].Data
	var s float64
	for i := range l.diff {
		d := a[i] - b[i]
		l.diff[i] = d
		s += float64(d) * float64(d)
	}
	top[0].Data[0] = float32(s / float64(bottom[0].Shape()[0]) / 2)
	return nil
}

// Backward writes ±loss_weight/N * (a - b) to the bottoms that ask.
func (l *EuclideanLoss) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	for i := 0; i < 2; i++ {
		if !propagates(propagateDown, i) {
			continue
		}
		alpha := top[0].Diff[0] / float32(bottom[i].Shape()[0])
		if i == 1 {
			alpha = -alpha
		}
		dx := bottom[i].Diff[:len(l.diff)]
		for j, d := range l.diff {
			dx[j] = alpha * d
		}
	}
}
