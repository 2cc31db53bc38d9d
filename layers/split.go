package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Split", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Split{lp: p}, nil
	})
}

// Split is Caffe's Split layer, which the net inserts where one blob feeds
// several layers: every top shares the bottom's data but has its own diff,
// and Backward sums the tops' diffs into the bottom's.
type Split struct {
	lp *caffepb.LayerParameter
}

// Type returns "Split".
func (l *Split) Type() string { return "Split" }

// Params returns nil: Split has no learnable blobs.
func (l *Split) Params() []*Blob { return nil }

// Setup checks the blobs and shapes the tops.
func (l *Split) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, -1); err != nil {
		return err
	}
	for i, t := range top {
		if t == bottom[0] {
			return layerErr(l.lp, "Split does not allow in-place computation (top[%d] is the bottom)", i)
		}
	}
	return l.Reshape(bottom, top)
}

// Reshape shares the bottom's data with every top and shapes their diffs.
func (l *Split) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	for _, t := range top {
		t.ShareData(b)
		t.Reshape(b.Shape()...)
	}
	return nil
}

// Forward does nothing: the tops are the bottom's data.
func (l *Split) Forward(bottom, top []*Blob) error { return nil }

// Backward writes the sum of the tops' diffs into the bottom's diff.
func (l *Split) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	n := bottom[0].Count()
	dx := bottom[0].Diff[:n]
	copy(dx, top[0].Diff[:n])
	for _, t := range top[1:] {
		for i, v := range t.Diff[:n] {
			dx[i] += v
		}
	}
}
