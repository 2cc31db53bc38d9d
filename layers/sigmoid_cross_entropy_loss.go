package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("SigmoidCrossEntropyLoss", newSigmoidCrossEntropyLoss)
}

// SigmoidCrossEntropyLoss is Caffe's SigmoidCrossEntropyLoss layer: the
// cross-entropy of targets t in [0,1] (bottom[1]) against sigmoid(x)
// (bottom[0], same count), summed and divided by a normalizer.
//
// The loss is computed from x directly in the overflow-free form
// -Σ [x*(t - [x>=0]) - log(1 + exp(x - 2x[x>=0]))], as Caffe does. Targets
// equal to loss_param.ignore_label contribute nothing. The normalizer is
// loss_param.normalization: FULL (count), VALID (non-ignored count),
// BATCH_SIZE (axis 0) or NONE (1), at least 1; when unset, the deprecated
// normalize chooses VALID (true) or BATCH_SIZE (false), and with neither
// the default is BATCH_SIZE (Caffe's choice for this layer, unlike
// SoftmaxWithLoss). The gradient is (sigmoid(x) - t) * loss_weight /
// normalizer; the targets get none.
type SigmoidCrossEntropyLoss struct {
	lp            *caffepb.LayerParameter
	normalization caffepb.LossParameter_NormalizationMode
	hasIgnore     bool
	ignore        int
	normalizer    float32
	sig           []float32
}

func newSigmoidCrossEntropyLoss(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	lp := p.GetLossParam()
	l := &SigmoidCrossEntropyLoss{lp: p, normalization: caffepb.LossParameter_BATCH_SIZE}
	switch {
	case lp != nil && lp.Normalization != nil:
		l.normalization = lp.GetNormalization()
	case lp != nil && lp.Normalize != nil:
		if lp.GetNormalize() {
			l.normalization = caffepb.LossParameter_VALID
		}
	}
	switch l.normalization {
	case caffepb.LossParameter_FULL, caffepb.LossParameter_VALID, caffepb.LossParameter_BATCH_SIZE, caffepb.LossParameter_NONE:
	default:
		return nil, layerErr(p, "unknown normalization mode %v", l.normalization)
	}
	if lp != nil && lp.IgnoreLabel != nil {
		l.hasIgnore, l.ignore = true, int(lp.GetIgnoreLabel())
	}
	return l, nil
}

// Type returns "SigmoidCrossEntropyLoss".
func (l *SigmoidCrossEntropyLoss) Type() string { return "SigmoidCrossEntropyLoss" }

// Params returns nil: the layer has no learnable blobs.
func (l *SigmoidCrossEntropyLoss) Params() []*Blob { return nil }

// IsLoss reports true: top[0] gets a loss_weight of 1 by default.
func (l *SigmoidCrossEntropyLoss) IsLoss() bool { return true }

// AllowForceBackward is false for the targets (bottom 1), which get no
// gradient.
func (l *SigmoidCrossEntropyLoss) AllowForceBackward(i int) bool { return i != 1 }

// Setup checks the blobs and shapes the scalar top.
func (l *SigmoidCrossEntropyLoss) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, 2, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks that the bottoms agree and sizes the sigmoid buffer.
func (l *SigmoidCrossEntropyLoss) Reshape(bottom, top []*Blob) error {
	x, t := bottom[0], bottom[1]
	if x.NumAxes() == 0 || t.NumAxes() == 0 || x.Shape()[0] != t.Shape()[0] {
		return layerErr(l.lp, "the data and label should have the same first dimension: bottom[0] %q %v, bottom[1] %q %v", x.Name, x.Shape(), t.Name, t.Shape())
	}
	if x.Count() != t.Count() {
		return layerErr(l.lp, "inputs must have the same count: bottom[0] %q %v has %d, bottom[1] %q %v has %d",
			x.Name, x.Shape(), x.Count(), t.Name, t.Shape(), t.Count())
	}
	top[0].Reshape()
	l.sig = ensureLen(l.sig, x.Count())
	return nil
}

func (l *SigmoidCrossEntropyLoss) ignored(t float32) bool {
	return l.hasIgnore && int(t) == l.ignore
}

// Forward computes the sigmoid (kept for Backward) and the loss.
func (l *SigmoidCrossEntropyLoss) Forward(bottom, top []*Blob) error {
	x, t := bottom[0].Data[:len(l.sig)], bottom[1].Data
	var loss float64
	valid := 0
	for i, v := range x {
		xv := float64(v)
		l.sig[i] = float32(0.5*math.Tanh(0.5*xv) + 0.5)
		if l.ignored(t[i]) {
			continue
		}
		pos := 0.0
		if xv >= 0 {
			pos = 1
		}
		loss -= xv*(float64(t[i])-pos) - math.Log1p(math.Exp(xv-2*xv*pos))
		valid++
	}
	var norm float64
	switch l.normalization {
	case caffepb.LossParameter_FULL:
		norm = float64(len(x))
	case caffepb.LossParameter_VALID:
		norm = float64(valid)
	case caffepb.LossParameter_BATCH_SIZE:
		norm = float64(bottom[0].Shape()[0])
	default:
		norm = 1
	}
	l.normalizer = float32(math.Max(1, norm))
	top[0].Data[0] = float32(loss / float64(l.normalizer))
	return nil
}

// Backward writes (sigmoid(x) - t) * loss_weight / normalizer to bottom[0].
func (l *SigmoidCrossEntropyLoss) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	scale := top[0].Diff[0] / l.normalizer
	t, dx := bottom[1].Data, bottom[0].Diff[:len(l.sig)]
	for i, s := range l.sig {
		if l.ignored(t[i]) {
			dx[i] = 0
		} else {
			dx[i] = (s - t[i]) * scale
		}
	}
}
