package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Slice", newSlice)
}

// Slice is Caffe's Slice layer: it cuts its bottom along axis (default 1;
// or the deprecated slice_dim, never both) into one piece per top. With
// slice_point (one per boundary: tops-1 strictly increasing points inside
// the axis) the pieces are [0,p1), [p1,p2), …; without, the axis is split
// evenly and must divide by the number of tops. A single top shares the
// bottom's data and diff, as in Caffe.
type Slice struct {
	lp        *caffepb.LayerParameter
	axisParam int
	legacy    bool
	points    []int
	axis      int
	outer     int
	inner     int
	botAxis   int
	sizes     []int // per top, along the axis
	shape     []int
}

func newSlice(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	sp := p.GetSliceParam()
	l := &Slice{lp: p, axisParam: int(sp.GetAxis())}
	if sp != nil && sp.SliceDim != nil {
		if sp.Axis != nil {
			return nil, layerErr(p, "either axis or slice_dim should be specified; not both")
		}
		l.axisParam, l.legacy = int(sp.GetSliceDim()), true
	}
	for _, v := range sp.GetSlicePoint() {
		l.points = append(l.points, int(v))
	}
	return l, nil
}

// Type returns "Slice".
func (l *Slice) Type() string { return "Slice" }

// Params returns nil: Slice has no learnable blobs.
func (l *Slice) Params() []*Blob { return nil }

// Setup checks the blob counts and slice points and shapes the tops.
func (l *Slice) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, -1); err != nil {
		return err
	}
	if len(l.points) > 0 && len(l.points) != len(top)-1 {
		return layerErr(l.lp, "%d slice_point values for %d tops; need exactly one fewer than the tops", len(l.points), len(top))
	}
	for i, t := range top {
		if t == bottom[0] {
			return layerErr(l.lp, "Slice does not allow in-place computation (top[%d] is the bottom)", i)
		}
	}
	return l.Reshape(bottom, top)
}

// Reshape resolves the axis, computes the pieces and shapes the tops.
func (l *Slice) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if l.legacy {
		if l.axisParam < 0 || l.axisParam >= b.NumAxes() {
			return layerErr(l.lp, "slice_dim %d out of range for bottom %q of shape %v", l.axisParam, b.Name, b.Shape())
		}
		l.axis = l.axisParam
	} else {
		a, err := b.CanonicalAxis(l.axisParam)
		if err != nil {
			return layerErr(l.lp, "%v", err)
		}
		l.axis = a
	}
	l.botAxis = b.Shape()[l.axis]
	l.sizes = l.sizes[:0]
	if len(l.points) > 0 {
		prev := 0
		for _, p := range l.points {
			if p <= prev || p >= l.botAxis {
				return layerErr(l.lp, "slice_point %v out of range: points must be strictly increasing and inside (0, %d), the size of axis %d of bottom %q %v",
					l.points, l.botAxis, l.axis, b.Name, b.Shape())
			}
			l.sizes = append(l.sizes, p-prev)
			prev = p
		}
		l.sizes = append(l.sizes, l.botAxis-prev)
	} else {
		if l.botAxis%len(top) != 0 {
			return layerErr(l.lp, "number of top blobs (%d) should evenly divide input slice axis %d of size %d (bottom %q %v)",
				len(top), l.axis, l.botAxis, b.Name, b.Shape())
		}
		for range top {
			l.sizes = append(l.sizes, l.botAxis/len(top))
		}
	}
	l.outer = b.CountRange(0, l.axis)
	l.inner = b.CountFrom(l.axis + 1)
	if len(top) == 1 {
		top[0].ShareData(b)
		top[0].ShareDiff(b)
		top[0].Reshape(b.Shape()...)
		return nil
	}
	for i, t := range top {
		l.shape = append(l.shape[:0], b.Shape()...)
		l.shape[l.axis] = l.sizes[i]
		t.Reshape(l.shape...)
	}
	return nil
}

// Forward copies each piece of the bottom into its top.
func (l *Slice) Forward(bottom, top []*Blob) error {
	if len(top) == 1 {
		return nil
	}
	x := bottom[0].Data
	off := 0
	for i, t := range top {
		n := l.sizes[i] * l.inner
		for o := 0; o < l.outer; o++ {
			start := (o*l.botAxis + off) * l.inner
			copy(t.Data[o*n:(o+1)*n], x[start:start+n])
		}
		off += l.sizes[i]
	}
	return nil
}

// Backward copies each top's gradient into its piece of the bottom's.
func (l *Slice) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(top) == 1 || !propagates(propagateDown, 0) {
		return
	}
	dx := bottom[0].Diff
	off := 0
	for i, t := range top {
		n := l.sizes[i] * l.inner
		for o := 0; o < l.outer; o++ {
			copy(dx[(o*l.botAxis+off)*l.inner:], t.Diff[o*n:(o+1)*n])
		}
		off += l.sizes[i]
	}
}
