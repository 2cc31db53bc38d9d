package layers

import (
	"fmt"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Input", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Input{lp: p}, nil
	})
}

// Input is Caffe's Input layer: it has no bottoms and shapes its tops from
// input_param.shape, whose values the caller writes directly (deployment
// nets, feature extraction).
type Input struct {
	lp *caffepb.LayerParameter
}

// Type returns "Input".
func (l *Input) Type() string { return "Input" }

// Params returns nil: Input has no learnable blobs.
func (l *Input) Params() []*Blob { return nil }

// Setup shapes top i with shape i, or every top with the single shape given;
// with no shape the tops are left for the caller to shape, as in Caffe.
func (l *Input) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 0, 0, 1, -1); err != nil {
		return err
	}
	shapes := l.lp.GetInputParam().GetShape()
	if len(shapes) != 0 && len(shapes) != 1 && len(shapes) != len(top) {
		return layerErr(l.lp, "input_param must give a shape once, once per top blob (%d), or not at all; got %d shapes", len(top), len(shapes))
	}
	for i, t := range top {
		if len(shapes) == 0 {
			break
		}
		s := shapes[0]
		if len(shapes) > 1 {
			s = shapes[i]
		}
		dims := make([]int, len(s.GetDim()))
		n := int64(1)
		for j, d := range s.GetDim() {
			if d < 0 {
				return layerErr(l.lp, "input_param shape %v for top %d has a negative dimension", s.GetDim(), i)
			}
			n *= d
			if n > 1<<31-1 {
				return layerErr(l.lp, "input_param shape %v for top %d is too large", s.GetDim(), i)
			}
			dims[j] = int(d)
		}
		t.Reshape(dims...)
	}
	return nil
}

// Reshape does nothing: the tops keep the shape the caller gave them.
func (l *Input) Reshape(bottom, top []*Blob) error { return nil }

// Forward does nothing: the caller has written the tops.
func (l *Input) Forward(bottom, top []*Blob) error { return nil }

// Backward does nothing: Input has no bottoms.
func (l *Input) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}

// layerErr formats an error that names the layer at fault, as every layer
// error must: `layer "conv1" (Convolution): ...`.
func layerErr(lp *caffepb.LayerParameter, format string, args ...any) error {
	return fmt.Errorf("layer %q (%s): %s", lp.GetName(), lp.GetType(), fmt.Sprintf(format, args...))
}

// checkBlobCounts enforces Caffe's bottom/top count rules; a max of -1 means
// unbounded.
func checkBlobCounts(lp *caffepb.LayerParameter, bottom, top []*Blob, minB, maxB, minT, maxT int) error {
	if len(bottom) < minB || (maxB >= 0 && len(bottom) > maxB) {
		return layerErr(lp, "takes %s bottom blob(s), got %d", countRange(minB, maxB), len(bottom))
	}
	if len(top) < minT || (maxT >= 0 && len(top) > maxT) {
		return layerErr(lp, "takes %s top blob(s), got %d", countRange(minT, maxT), len(top))
	}
	return nil
}

func countRange(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == hi:
		return fmt.Sprint(lo)
	default:
		return fmt.Sprintf("%d to %d", lo, hi)
	}
}
