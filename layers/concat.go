package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Concat", newConcat)
}

// Concat is Caffe's Concat layer: it joins its bottoms along axis (default
// 1, channels; negative counts from the end), or along the deprecated
// concat_dim (never both). All bottoms must have the same number of axes
// and the same shape except along that axis. A single bottom is passed
// through by sharing its data and diff, as in Caffe.
type Concat struct {
	lp        *caffepb.LayerParameter
	axisParam int
	legacy    bool // axisParam came from concat_dim: no negative indexing
	axis      int
	outer     int // count of the axes before the concat axis
	inner     int // count of the axes after it
	topAxis   int // size of the top along the axis
	shape     []int
}

func newConcat(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	cp := p.GetConcatParam()
	l := &Concat{lp: p, axisParam: int(cp.GetAxis())}
	if cp != nil && cp.ConcatDim != nil {
		if cp.Axis != nil {
			return nil, layerErr(p, "either axis or concat_dim should be specified; not both")
		}
		l.axisParam, l.legacy = int(cp.GetConcatDim()), true
	}
	return l, nil
}

// Type returns "Concat".
func (l *Concat) Type() string { return "Concat" }

// Params returns nil: Concat has no learnable blobs.
func (l *Concat) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *Concat) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, -1, 1, 1); err != nil {
		return err
	}
	for i, b := range bottom {
		if b == top[0] {
			return layerErr(l.lp, "Concat does not allow in-place computation (bottom[%d] is the top)", i)
		}
	}
	return l.Reshape(bottom, top)
}

// Reshape resolves the axis, checks the bottom shapes and shapes the top.
func (l *Concat) Reshape(bottom, top []*Blob) error {
	b0 := bottom[0]
	if l.legacy {
		if l.axisParam < 0 || l.axisParam >= b0.NumAxes() {
			return layerErr(l.lp, "concat_dim %d out of range for bottom %q of shape %v", l.axisParam, b0.Name, b0.Shape())
		}
		l.axis = l.axisParam
	} else {
		a, err := b0.CanonicalAxis(l.axisParam)
		if err != nil {
			return layerErr(l.lp, "%v", err)
		}
		l.axis = a
	}
	l.topAxis = b0.Shape()[l.axis]
	for i := 1; i < len(bottom); i++ {
		b := bottom[i]
		if b.NumAxes() != b0.NumAxes() {
			return layerErr(l.lp, "all inputs must have the same number of axes: bottom[0] %q has shape %v, bottom[%d] %q has shape %v",
				b0.Name, b0.Shape(), i, b.Name, b.Shape())
		}
		for j, d := range b.Shape() {
			if j != l.axis && d != b0.Shape()[j] {
				return layerErr(l.lp, "all inputs must have the same shape, except at concat axis %d: bottom[0] %q has shape %v, bottom[%d] %q has shape %v",
					l.axis, b0.Name, b0.Shape(), i, b.Name, b.Shape())
			}
		}
		l.topAxis += b.Shape()[l.axis]
	}
	l.outer = b0.CountRange(0, l.axis)
	l.inner = b0.CountFrom(l.axis + 1)
	l.shape = append(l.shape[:0], b0.Shape()...)
	l.shape[l.axis] = l.topAxis
	if len(bottom) == 1 {
		top[0].ShareData(b0)
		top[0].ShareDiff(b0)
	}
	top[0].Reshape(l.shape...)
	return nil
}

// Forward copies each bottom's slab into its place in the top.
func (l *Concat) Forward(bottom, top []*Blob) error {
	if len(bottom) == 1 {
		return nil
	}
	y := top[0].Data
	off := 0 // position along the axis
	for _, b := range bottom {
		n := b.Shape()[l.axis] * l.inner
		for o := 0; o < l.outer; o++ {
			copy(y[(o*l.topAxis+off)*l.inner:], b.Data[o*n:(o+1)*n])
		}
		off += b.Shape()[l.axis]
	}
	return nil
}

// Backward copies each slab of the top's gradient back to its bottom.
func (l *Concat) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(bottom) == 1 {
		return
	}
	dy := top[0].Diff
	off := 0
	for i, b := range bottom {
		n := b.Shape()[l.axis] * l.inner
		if propagates(propagateDown, i) {
			for o := 0; o < l.outer; o++ {
				start := (o*l.topAxis + off) * l.inner
				copy(b.Diff[o*n:(o+1)*n], dy[start:start+n])
			}
		}
		off += b.Shape()[l.axis]
	}
}
