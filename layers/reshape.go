package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Reshape", newReshape)
}

// Reshape is Caffe's Reshape layer: the top is the bottom's data and diff
// under a new shape. reshape_param.shape replaces the bottom axes
// [axis, axis+num_axes) (default all); in it a 0 copies the bottom's
// dimension at that position and a single -1 is inferred so the count is
// unchanged. A negative axis counts from the end, -1 meaning after the last
// axis, as in Caffe. In place is refused, as in Caffe.
type Reshape struct {
	lp            *caffepb.LayerParameter
	dims          []int // reshape_param.shape
	axisParam     int
	numAxes       int
	inferred      int   // index in dims of the -1, or -1
	copyAxes      []int // indices in dims of the 0s
	constantCount int   // product of the explicit dims
	shape         []int
}

func newReshape(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	rp := p.GetReshapeParam()
	if rp.GetShape() == nil {
		return nil, layerErr(p, "reshape_param.shape is required")
	}
	l := &Reshape{lp: p, axisParam: int(rp.GetAxis()), numAxes: int(rp.GetNumAxes()), inferred: -1, constantCount: 1}
	if l.numAxes < -1 {
		return nil, layerErr(p, "num_axes must be >= 0, or -1 for all; got %d", l.numAxes)
	}
	for i, d := range rp.GetShape().GetDim() {
		switch {
		case d == 0:
			l.copyAxes = append(l.copyAxes, i)
		case d == -1:
			if l.inferred >= 0 {
				return nil, layerErr(p, "new shape %v contains multiple -1 dims; at most a single (1) value of -1 may be specified", rp.GetShape().GetDim())
			}
			l.inferred = i
		case d < -1:
			return nil, layerErr(p, "new shape %v has dimension %d; dims must be positive, 0 (copy) or -1 (infer)", rp.GetShape().GetDim(), d)
		default:
			l.constantCount *= int(d)
		}
		l.dims = append(l.dims, int(d))
	}
	return l, nil
}

// Type returns "Reshape".
func (l *Reshape) Type() string { return "Reshape" }

// Params returns nil: Reshape has no learnable blobs.
func (l *Reshape) Params() []*Blob { return nil }

// Setup checks the blobs and shapes the top.
func (l *Reshape) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	if top[0] == bottom[0] {
		return layerErr(l.lp, "Reshape does not allow in-place computation")
	}
	return l.Reshape(bottom, top)
}

// Reshape computes the new shape (0s copied, the -1 inferred), checks the
// count and shares the bottom's storage.
func (l *Reshape) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	na := b.NumAxes()
	start := l.axisParam
	if start < 0 {
		start += na + 1
	}
	if start < 0 || start > na {
		return layerErr(l.lp, "axis %d out of range for bottom %q of shape %v (%d axes)", l.axisParam, b.Name, b.Shape(), na)
	}
	end := na
	if l.numAxes >= 0 {
		end = start + l.numAxes
		if end > na {
			return layerErr(l.lp, "axis %d + num_axes %d extends past the %d axes of bottom %q %v", start, l.numAxes, na, b.Name, b.Shape())
		}
	}
	l.shape = append(l.shape[:0], b.Shape()[:start]...)
	l.shape = append(l.shape, l.dims...)
	l.shape = append(l.shape, b.Shape()[end:]...)
	for _, i := range l.copyAxes {
		if start+i >= na {
			return layerErr(l.lp, "new shape contains a 0 at position %d, but there was no corresponding bottom axis to copy (bottom %q %v)", i, b.Name, b.Shape())
		}
		l.shape[start+i] = b.Shape()[start+i]
	}
	if l.inferred >= 0 {
		explicit := l.constantCount * b.CountRange(0, start) * b.CountFrom(end)
		for _, i := range l.copyAxes {
			explicit *= b.Shape()[start+i]
		}
		if explicit == 0 || b.Count()%explicit != 0 {
			return layerErr(l.lp, "bottom count (%d) must be divisible by the product of the specified dimensions (%d) to infer the -1 in %v (bottom %q %v)",
				b.Count(), explicit, l.dims, b.Name, b.Shape())
		}
		l.shape[start+l.inferred] = b.Count() / explicit
	}
	n := 1
	for _, d := range l.shape {
		n *= d
	}
	if n != b.Count() {
		return layerErr(l.lp, "output count must match input count: new shape %v has %d elements, bottom %q %v has %d",
			l.shape, n, b.Name, b.Shape(), b.Count())
	}
	shareReshape(top[0], b, l.shape)
	return nil
}

// Forward does nothing: the top is the bottom's storage.
func (l *Reshape) Forward(bottom, top []*Blob) error { return nil }

// Backward does nothing: the bottom's diff is the top's.
func (l *Reshape) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {}
