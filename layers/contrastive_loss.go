package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("ContrastiveLoss", newContrastiveLoss)
}

// ContrastiveLoss is Caffe's ContrastiveLoss layer (siamese networks). Its
// bottoms are two feature batches a, b (N×C, trailing axes of size 1 allowed)
// and a similarity label y (N values, nonzero = similar pair). With
// d² = ‖a_n - b_n‖²:
//
//	loss = 1/(2N) Σ_n [ y_n d² + (1-y_n) max(margin - d, 0)² ]
//
// or, with legacy_version, max(margin - d², 0) for dissimilar pairs.
// Gradients flow to a and b; the label gets none.
type ContrastiveLoss struct {
	lp     *caffepb.LayerParameter
	margin float32
	legacy bool
	diff   []float32 // a - b, N×C
	distSq []float32 // per sample
}

func newContrastiveLoss(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	cp := p.GetContrastiveLossParam()
	return &ContrastiveLoss{lp: p, margin: cp.GetMargin(), legacy: cp.GetLegacyVersion()}, nil
}

// Type returns "ContrastiveLoss".
func (l *ContrastiveLoss) Type() string { return "ContrastiveLoss" }

// Params returns nil: the layer learns nothing.
func (l *ContrastiveLoss) Params() []*Blob { return nil }

// IsLoss reports true: top[0] gets a loss_weight of 1 by default.
func (l *ContrastiveLoss) IsLoss() bool { return true }

// AllowForceBackward is false for the label bottom, as in Caffe.
func (l *ContrastiveLoss) AllowForceBackward(i int) bool { return i < 2 }

// Setup checks the number of blobs and shapes the scalar top.
func (l *ContrastiveLoss) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 3, 3, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks the shapes the way Caffe does: features N×C(×1×1), the
// same for both, and one label per pair.
func (l *ContrastiveLoss) Reshape(bottom, top []*Blob) error {
	a, b, y := bottom[0], bottom[1], bottom[2]
	if a.NumAxes() < 2 || b.NumAxes() < 2 {
		return layerErr(l.lp, "features must be N×C: bottom[0] %q %v, bottom[1] %q %v", a.Name, a.Shape(), b.Name, b.Shape())
	}
	n := a.Shape()[0]
	if b.Shape()[0] != n || a.CountFrom(1) != b.CountFrom(1) {
		return layerErr(l.lp, "the two feature bottoms must have the same shape: bottom[0] %q %v, bottom[1] %q %v", a.Name, a.Shape(), b.Name, b.Shape())
	}
	if a.CountFrom(2) != 1 {
		return layerErr(l.lp, "features must be N×C×1×1: bottom[0] %q is %v", a.Name, a.Shape())
	}
	if y.NumAxes() == 0 || y.Shape()[0] != n || y.Count() != n {
		return layerErr(l.lp, "the similarity bottom must hold one value per pair (%d): bottom[2] %q is %v", n, y.Name, y.Shape())
	}
	top[0].Reshape()
	l.diff = ensureLen(l.diff, a.Count())
	l.distSq = ensureLen(l.distSq, n)
	return nil
}

// Forward computes the loss.
func (l *ContrastiveLoss) Forward(bottom, top []*Blob) error {
	a, b, y := bottom[0].Data, bottom[1].Data, bottom[2].Data
	n := len(l.distSq)
	c := len(l.diff) / n
	var loss float64
	for i := 0; i < n; i++ {
		var s float32
		for j := i * c; j < (i+1)*c; j++ {
			d := a[j] - b[j]
			l.diff[j] = d
			s += d * d
		}
		l.distSq[i] = s
		switch {
		case y[i] != 0: // similar pair: pull together
			loss += float64(s)
		case l.legacy:
			loss += math.Max(float64(l.margin-s), 0)
		default:
			m := math.Max(float64(l.margin)-math.Sqrt(float64(s)), 0)
			loss += m * m
		}
	}
	top[0].Data[0] = float32(loss / float64(n) / 2)
	return nil
}

// Backward writes the gradient to the feature bottoms that ask for it.
func (l *ContrastiveLoss) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	y := bottom[2].Data
	n := len(l.distSq)
	c := len(l.diff) / n
	if propagates(propagateDown, 2) {
		clear(bottom[2].Diff[:bottom[2].Count()]) // labels have no gradient
	}
	for k := 0; k < 2; k++ {
		if !propagates(propagateDown, k) {
			continue
		}
		alpha := top[0].Diff[0] / float32(n)
		if k == 1 {
			alpha = -alpha
		}
		dx := bottom[k].Diff
		for i := 0; i < n; i++ {
			row := l.diff[i*c : (i+1)*c]
			out := dx[i*c : (i+1)*c]
			var beta float32
			switch {
			case y[i] != 0:
				beta = alpha
			case l.legacy:
				if l.margin-l.distSq[i] > 0 {
					beta = -alpha
				}
			default:
				// Caffe's 1e-4 keeps the division finite for coincident points.
				dist := float32(math.Sqrt(float64(l.distSq[i])))
				if m := l.margin - dist; m > 0 {
					beta = -alpha * m / (dist + 1e-4)
				}
			}
			for j, d := range row {
				out[j] = beta * d
			}
		}
	}
}
