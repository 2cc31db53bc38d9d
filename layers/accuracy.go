package layers

import "github.com/cos-project/cos/prototxt/caffepb"

func init() {
	Register("Accuracy", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Accuracy{lp: p}, nil
	})
}

// Accuracy is Caffe's Accuracy layer: the fraction of positions whose true
// label is among the top_k scores along axis. Positions labelled
// ignore_label are skipped. An optional second top receives the accuracy of
// each class (0 for a class absent from the batch).
//
// As in current Caffe, a prediction counts as correct when fewer than top_k
// other classes score at least as high as the true class, so ties are
// resolved against the prediction.
type Accuracy struct {
	lp *caffepb.LayerParameter

	topK                   int
	axis                   int
	outer, channels, inner int
	hasIgnore              bool
	ignore                 int
	classCount             []int // per class: labels seen in the last Forward
	perClassShape          []int
}

// Type returns "Accuracy".
func (l *Accuracy) Type() string { return "Accuracy" }

// Params returns nil: Accuracy has no learnable blobs.
func (l *Accuracy) Params() []*Blob { return nil }

// AllowForceBackward is false for every bottom: accuracy has no gradient.
func (l *Accuracy) AllowForceBackward(i int) bool { return false }

// Setup reads accuracy_param and shapes the tops.
func (l *Accuracy) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 2, 2, 1, 2); err != nil {
		return err
	}
	ap := l.lp.GetAccuracyParam()
	if ap == nil {
		ap = &caffepb.AccuracyParameter{}
	}
	l.topK = int(ap.GetTopK())
	if l.topK <= 0 {
		return layerErr(l.lp, "top_k must be positive, got %d", l.topK)
	}
	l.hasIgnore = ap.IgnoreLabel != nil
	l.ignore = int(ap.GetIgnoreLabel())
	return l.Reshape(bottom, top)
}

// Reshape checks top_k against the number of classes and the label count
// against the predictions, and shapes the tops.
func (l *Accuracy) Reshape(bottom, top []*Blob) error {
	scores, labels := bottom[0], bottom[1]
	axis, err := scores.CanonicalAxis(int(l.lp.GetAccuracyParam().GetAxis()))
	if err != nil {
		return layerErr(l.lp, "%v", err)
	}
	l.axis = axis
	l.outer = scores.CountRange(0, axis)
	l.channels = scores.Shape()[axis]
	l.inner = scores.CountFrom(axis + 1)
	if l.topK > l.channels {
		return layerErr(l.lp, "top_k (%d) must be less than or equal to the number of classes (%d)", l.topK, l.channels)
	}
	if l.outer*l.inner != labels.Count() {
		return layerErr(l.lp, "number of labels must match number of predictions; e.g., if label axis == 1 and prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, with integer values in {0, 1, ..., C-1}: predictions %q %v, labels %q %v",
			scores.Name, scores.Shape(), labels.Name, labels.Shape())
	}
	top[0].Reshape()
	if len(top) > 1 {
		l.perClassShape = append(l.perClassShape[:0], l.channels)
		top[1].Reshape(l.perClassShape...)
	}
	if cap(l.classCount) < l.channels {
		l.classCount = make([]int, l.channels)
	}
	l.classCount = l.classCount[:l.channels]
	return nil
}

// Forward computes the accuracy (and the per-class accuracies). A label
// outside [0, classes) that is not ignore_label is an error.
func (l *Accuracy) Forward(bottom, top []*Blob) error {
	x, labels := bottom[0].Data, bottom[1].Data
	var perClass []float32
	if len(top) > 1 {
		perClass = top[1].Data[:l.channels]
		clear(perClass)
		clear(l.classCount)
	}
	dim := l.channels * l.inner
	correct, count := 0, 0
	for i := 0; i < l.outer; i++ {
		for j := 0; j < l.inner; j++ {
			lv := int(labels[i*l.inner+j])
			if l.hasIgnore && lv == l.ignore {
				continue
			}
			if lv < 0 || lv >= l.channels {
				return layerErr(l.lp, "label %v at position %d is outside [0, %d)", labels[i*l.inner+j], i*l.inner+j, l.channels)
			}
			if perClass != nil {
				l.classCount[lv]++
			}
			count++
			truth := x[i*dim+lv*l.inner+j]
			better := 0 // classes other than the true one scoring >= truth
			for c := 0; c < l.channels && better < l.topK; c++ {
				if c != lv && x[i*dim+c*l.inner+j] >= truth {
					better++
				}
			}
			if better < l.topK {
				correct++
				if perClass != nil {
					perClass[lv]++
				}
			}
		}
	}
	acc := float32(0)
	if count > 0 {
		acc = float32(correct) / float32(count)
	}
	top[0].Data[0] = acc
	for c := range perClass {
		if l.classCount[c] > 0 {
			perClass[c] /= float32(l.classCount[c])
		}
	}
	return nil
}

// Backward does nothing: accuracy is not differentiable.
func (l *Accuracy) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}
