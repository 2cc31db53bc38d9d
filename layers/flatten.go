package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Flatten", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		fp := p.GetFlattenParam()
		return &Flatten{lp: p, axisParam: int(fp.GetAxis()), endParam: int(fp.GetEndAxis())}, nil
	})
}

// Flatten is Caffe's Flatten layer: axes axis..end_axis (default 1..-1)
// become one, e.g. N×C×H×W to N×(C*H*W). The top shares the bottom's data
// and diff, so Forward and Backward have nothing to do. In place is
// refused, as in Caffe.
type Flatten struct {
	lp                  *caffepb.LayerParameter
	axisParam, endParam int
	shape               []int
}

// Type returns "Flatten".
func (l *Flatten) Type() string { return "Flatten" }

// Params returns nil: Flatten has no learnable blobs.
func (l *Flatten) Params() []*Blob { return nil }

// Setup checks the blobs and shapes the top.
func (l *Flatten) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	if top[0] == bottom[0] {
		return layerErr(l.lp, "Flatten does not allow in-place computation")
	}
	return l.Reshape(bottom, top)
}

// Reshape computes the flattened shape and shares the bottom's storage.
func (l *Flatten) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	start, err := b.CanonicalAxis(l.axisParam)
	if err != nil {
		return layerErr(l.lp, "axis: %v", err)
	}
	end, err := b.CanonicalAxis(l.endParam)
	if err != nil {
		return layerErr(l.lp, "end_axis: %v", err)
	}
	if end < start {
		return layerErr(l.lp, "end_axis %d (axis %d) comes before axis %d (axis %d) for bottom %q of shape %v",
			l.endParam, end, l.axisParam, start, b.Name, b.Shape())
	}
	l.shape = append(l.shape[:0], b.Shape()[:start]...)
	l.shape = append(l.shape, b.CountRange(start, end+1))
	l.shape = append(l.shape, b.Shape()[end+1:]...)
	shareReshape(top[0], b, l.shape)
	return nil
}

// Forward does nothing: the top is the bottom's storage.
func (l *Flatten) Forward(bottom, top []*Blob) error { return nil }

// Backward does nothing: the bottom's diff is the top's.
func (l *Flatten) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}

// shareReshape makes top a view of b's data and diff with another shape of
// the same count. Sharing first means the Reshape finds enough capacity and
// allocates nothing.
func shareReshape(top, b *Blob, shape []int) {
	top.ShareData(b)
	top.ShareDiff(b)
	top.Reshape(shape...)
}
