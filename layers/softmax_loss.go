package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("SoftmaxWithLoss", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &SoftmaxWithLoss{lp: p}, nil
	})
}

// SoftmaxWithLoss is Caffe's softmax followed by the multinomial logistic
// loss, computed together for a numerically stable gradient. Bottoms are
// the scores and the integer labels (one per position of the axes before
// and after the softmax axis); top[0] is the scalar loss and an optional
// top[1] receives the probabilities.
//
// The loss is divided by Caffe's normalizer: VALID (default) the number of
// labels that are not ignore_label, FULL all labels, BATCH_SIZE the count of
// the axes before the softmax axis, NONE 1; the deprecated normalize: false
// means BATCH_SIZE and true VALID. The net applies loss_weight through
// top[0].Diff[0], which Backward multiplies in, as in Caffe.
type SoftmaxWithLoss struct {
	lp *caffepb.LayerParameter

	axis                   int
	outer, channels, inner int
	hasIgnore              bool
	ignore                 int
	norm                   caffepb.LossParameter_NormalizationMode
	prob                   *Blob // own probabilities when there is no second top
	scale                  []float32
	validCount             int // labels counted by the last Forward
}

// Type returns "SoftmaxWithLoss".
func (l *SoftmaxWithLoss) Type() string { return "SoftmaxWithLoss" }

// Params returns nil: the loss has no learnable blobs.
func (l *SoftmaxWithLoss) Params() []*Blob { return nil }

// IsLoss reports true: top[0] gets a loss_weight of 1 by default.
func (l *SoftmaxWithLoss) IsLoss() bool { return true }

// AllowForceBackward is false for the labels (bottom 1): there is no
// gradient with respect to a label.
func (l *SoftmaxWithLoss) AllowForceBackward(i int) bool { return i != 1 }

// Setup reads loss_param and softmax_param and shapes the tops.
func (l *SoftmaxWithLoss) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, 2, 1, 2); err != nil {
		return err
	}
	lossp := l.lp.GetLossParam()
	if lossp == nil {
		lossp = &caffepb.LossParameter{}
	}
	l.hasIgnore = lossp.IgnoreLabel != nil
	l.ignore = int(lossp.GetIgnoreLabel())
	if lossp.Normalize != nil {
		l.norm = caffepb.LossParameter_BATCH_SIZE
		if lossp.GetNormalize() {
			l.norm = caffepb.LossParameter_VALID
		}
	} else {
		l.norm = lossp.GetNormalization()
	}
	switch l.norm {
	case caffepb.LossParameter_FULL, caffepb.LossParameter_VALID, caffepb.LossParameter_BATCH_SIZE, caffepb.LossParameter_NONE:
	default:
		return layerErr(l.lp, "unknown normalization mode %v", l.norm)
	}
	l.prob = &Blob{Name: l.lp.GetName() + ".prob"}
	return l.Reshape(bottom, top)
}

// Reshape checks that there is one label per prediction and shapes the
// loss (a scalar) and the probabilities.
func (l *SoftmaxWithLoss) Reshape(bottom, top []*Blob) error {
	scores, labels := bottom[0], bottom[1]
	axis, err := scores.CanonicalAxis(int(l.lp.GetSoftmaxParam().GetAxis()))
	if err != nil {
		return layerErr(l.lp, "%v", err)
	}
	l.axis = axis
	if labels.NumAxes() > 0 && scores.Shape()[0] != labels.Shape()[0] {
		return layerErr(l.lp, "the data and label should have the same first dimension: %q %v vs. %q %v",
			scores.Name, scores.Shape(), labels.Name, labels.Shape())
	}
	l.outer = scores.CountRange(0, axis)
	l.channels = scores.Shape()[axis]
	l.inner = scores.CountFrom(axis + 1)
	if l.outer*l.inner != labels.Count() {
		return layerErr(l.lp, "number of labels must match number of predictions; e.g., if softmax axis == 1 and prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, with integer values in {0, 1, ..., C-1}: predictions %q %v, labels %q %v",
			scores.Name, scores.Shape(), labels.Name, labels.Shape())
	}
	top[0].Reshape()
	if len(top) > 1 {
		top[1].ReshapeLike(scores)
	} else {
		l.prob.ReshapeLike(scores)
	}
	if cap(l.scale) < l.inner {
		l.scale = make([]float32, l.inner)
	}
	l.scale = l.scale[:l.inner]
	return nil
}

func (l *SoftmaxWithLoss) probBlob(top []*Blob) *Blob {
	if len(top) > 1 {
		return top[1]
	}
	return l.prob
}

// normalizer is Caffe's get_normalizer, never below 1 so an all-ignored
// batch gives a zero loss instead of a NaN.
func (l *SoftmaxWithLoss) normalizer(valid int) float32 {
	var n float32
	switch l.norm {
	case caffepb.LossParameter_FULL:
		n = float32(l.outer * l.inner)
	case caffepb.LossParameter_VALID:
		n = float32(valid)
	case caffepb.LossParameter_BATCH_SIZE:
		n = float32(l.outer)
	default:
		n = 1
	}
	return max(n, 1)
}

// Forward computes the probabilities and the normalised loss
// -sum log(max(p[label], FLT_MIN)). A label outside [0, channels) that is
// not ignore_label is an error naming the layer.
func (l *SoftmaxWithLoss) Forward(bottom, top []*Blob) error {
	prob := l.probBlob(top)
	softmaxForward(bottom[0].Data, prob.Data, l.outer, l.channels, l.inner, l.scale)
	p, labels := prob.Data, bottom[1].Data
	dim := l.channels * l.inner
	var loss float64
	valid := 0
	for i := 0; i < l.outer; i++ {
		for j := 0; j < l.inner; j++ {
			lv := int(labels[i*l.inner+j])
			if l.hasIgnore && lv == l.ignore {
				continue
			}
			if lv < 0 || lv >= l.channels {
				return layerErr(l.lp, "label %v at position %d is outside [0, %d)", labels[i*l.inner+j], i*l.inner+j, l.channels)
			}
			loss -= math.Log(float64(max(p[i*dim+lv*l.inner+j], float32MinNormal)))
			valid++
		}
	}
	l.validCount = valid
	top[0].Data[0] = float32(loss) / l.normalizer(valid)
	return nil
}

// float32MinNormal is C's FLT_MIN, Caffe's floor on a probability before
// its log.
const float32MinNormal = 1.17549435e-38

// Backward writes d loss / d scores = (prob - onehot(label)) * loss_weight /
// normalizer, zero at ignored positions.
func (l *SoftmaxWithLoss) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(propagateDown) == 0 || !propagateDown[0] {
		return
	}
	prob := l.probBlob(top)
	dx := bottom[0].Diff[:bottom[0].Count()]
	copy(dx, prob.Data[:len(dx)])
	labels := bottom[1].Data
	dim := l.channels * l.inner
	valid := 0
	for i := 0; i < l.outer; i++ {
		for j := 0; j < l.inner; j++ {
			lv := int(labels[i*l.inner+j])
			if l.hasIgnore && lv == l.ignore {
				for c := 0; c < l.channels; c++ {
					dx[i*dim+c*l.inner+j] = 0
				}
				continue
			}
			if lv >= 0 && lv < l.channels {
				dx[i*dim+lv*l.inner+j]--
			}
			valid++
		}
	}
	s := top[0].Diff[0] / l.normalizer(valid)
	for i := range dx {
		dx[i] *= s
	}
}
