package layers

import (
	"math/rand"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Scale", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		sp := p.GetScaleParam()
		return &Scale{lp: p, rng: contextRand(ctx), axisParam: int(sp.GetAxis()), numAxes: int(sp.GetNumAxes()), biasTerm: sp.GetBiasTerm()}, nil
	})
}

// Scale is Caffe's Scale layer: y = x * s (+ b with bias_term), s
// broadcast over bottom[0] starting at axis.
//
// With one bottom, s is a learned param of shape
// bottom[0].shape[axis : axis+num_axes] (num_axes -1: to the last axis; 0:
// a scalar), filled by filler (default constant 1). With two bottoms, s is
// bottom[1], whose shape must equal bottom[0].shape[axis : axis+its axes],
// and num_axes is ignored. The bias, when bias_term, is a learned param of
// s's shape filled by bias_filler (default constant 0). Params are
// [scale, bias] with one bottom, [bias] with two, as in Caffe. A scalar s
// (no axes) applies to every element whatever axis says. In place is
// allowed: the layer keeps a copy of x for the gradient of s.
type Scale struct {
	lp                 *caffepb.LayerParameter
	rng                *rand.Rand
	axisParam, numAxes int
	biasTerm           bool
	scale, bias        *Blob // scale is nil when it comes from bottom[1]
	params             []*Blob

	outer, dim, inner int
	saved             []float32 // x, kept only in place
	acc               []float64 // per element of s
}

// Type returns "Scale".
func (l *Scale) Type() string { return "Scale" }

// Params returns the scale (one-bottom form) and then the bias (bias_term).
func (l *Scale) Params() []*Blob { return l.params }

// Setup creates and fills the params (or takes them from the
// LayerParameter) and shapes the top.
func (l *Scale) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 2, 1, 1); err != nil {
		return err
	}
	sp := l.lp.GetScaleParam()
	var shape []int
	if len(bottom) == 1 {
		var err error
		if shape, err = paramBroadcastShape(l.lp, bottom[0], l.axisParam, l.numAxes); err != nil {
			return err
		}
		fp := sp.GetFiller()
		if fp == nil {
			fp = &caffepb.FillerParameter{Type: proto.String("constant"), Value: proto.Float32(1)}
		}
		if l.scale, err = newParam(l.lp, "scale", fp, l.rng, shape...); err != nil {
			return err
		}
		l.params = append(l.params, l.scale)
	} else {
		shape = bottom[1].Shape()
	}
	if l.biasTerm {
		var err error
		if l.bias, err = newParam(l.lp, "bias", sp.GetBiasFiller(), l.rng, shape...); err != nil {
			return err
		}
		l.params = append(l.params, l.bias)
	}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape checks s against bottom[0], computes the broadcast and shapes
// the top.
func (l *Scale) Reshape(bottom, top []*Blob) error {
	s := l.scale
	if len(bottom) > 1 {
		s = bottom[1]
	}
	var err error
	if l.outer, l.dim, l.inner, err = broadcastDims(l.lp, bottom[0], s, l.axisParam, "scale"); err != nil {
		return err
	}
	if l.bias != nil && l.bias.Count() != l.dim {
		return layerErr(l.lp, "bias has %d elements but the scale has %d", l.bias.Count(), l.dim)
	}
	neuronReshape(bottom[:1], top)
	if top[0] == bottom[0] {
		l.saved = ensureLen(l.saved, bottom[0].Count())
	}
	if cap(l.acc) < l.dim {
		l.acc = make([]float64, l.dim)
	}
	l.acc = l.acc[:l.dim]
	return nil
}

// Forward computes y = x*s (+b).
func (l *Scale) Forward(bottom, top []*Blob) error {
	s := l.scale
	if len(bottom) > 1 {
		s = bottom[1]
	}
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	if top[0] == bottom[0] {
		copy(l.saved, x)
	}
	off := 0
	for o := 0; o < l.outer; o++ {
		for d := 0; d < l.dim; d++ {
			sv := s.Data[d]
			var bv float32
			if l.bias != nil {
				bv = l.bias.Data[d]
			}
			xs, ys := x[off:off+l.inner], y[off:off+l.inner]
			for i, v := range xs {
				ys[i] = v*sv + bv
			}
			off += l.inner
		}
	}
	return nil
}

// Backward accumulates the bias gradient Σdy and the scale gradient Σdy*x
// (written, not accumulated, when s is bottom[1]), then writes dx = dy*s.
func (l *Scale) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	dy := top[0].Diff
	x := bottom[0].Data
	if top[0] == bottom[0] {
		x = l.saved
	}
	if l.bias != nil {
		sumBroadcast(dy, nil, l.outer, l.dim, l.inner, l.acc)
		for d, v := range l.acc {
			l.bias.Diff[d] += float32(v)
		}
	}
	s := l.scale
	if len(bottom) > 1 {
		s = bottom[1]
	}
	if l.scale != nil || propagates(propagateDown, 1) {
		sumBroadcast(dy, x, l.outer, l.dim, l.inner, l.acc)
		for d, v := range l.acc {
			if l.scale != nil {
				l.scale.Diff[d] += float32(v)
			} else {
				s.Diff[d] = float32(v)
			}
		}
	}
	if !propagates(propagateDown, 0) {
		return
	}
	dx := bottom[0].Diff
	off := 0
	for o := 0; o < l.outer; o++ {
		for d := 0; d < l.dim; d++ {
			sv := s.Data[d]
			for i, g := range dy[off : off+l.inner] {
				dx[off+i] = g * sv
			}
			off += l.inner
		}
	}
}

// paramBroadcastShape is the shape of a Scale/Bias param for bottom b:
// b.shape[axis : axis+numAxes], numAxes -1 meaning to the last axis.
func paramBroadcastShape(lp *caffepb.LayerParameter, b *Blob, axisParam, numAxes int) ([]int, error) {
	if numAxes < -1 {
		return nil, layerErr(lp, "num_axes must be non-negative, or -1 to extend to the end of bottom[0]; got %d", numAxes)
	}
	axis, err := b.CanonicalAxis(axisParam)
	if err != nil {
		if b.NumAxes() == 0 && numAxes == 0 {
			return []int{}, nil
		}
		return nil, layerErr(lp, "%v", err)
	}
	end := b.NumAxes()
	if numAxes >= 0 {
		end = axis + numAxes
		if end > b.NumAxes() {
			return nil, layerErr(lp, "param shape extends past bottom[0]'s shape %v when applied starting with axis %d with num_axes %d", b.Shape(), axis, numAxes)
		}
	}
	return append([]int{}, b.Shape()[axis:end]...), nil
}

// broadcastDims checks that s's shape equals b.shape[axis : axis+s axes]
// and returns the outer count (axes before), s's count, and the inner
// count (axes after). A scalar s (no axes) broadcasts with axis 0, as in
// Caffe.
func broadcastDims(lp *caffepb.LayerParameter, b, s *Blob, axisParam int, what string) (outer, dim, inner int, err error) {
	axis := 0
	if s.NumAxes() > 0 {
		if axis, err = b.CanonicalAxis(axisParam); err != nil {
			return 0, 0, 0, layerErr(lp, "%v", err)
		}
	}
	if b.NumAxes() < axis+s.NumAxes() {
		return 0, 0, 0, layerErr(lp, "%s of shape %v starting at axis %d extends past bottom[0]'s shape %v", what, s.Shape(), axis, b.Shape())
	}
	for i, d := range s.Shape() {
		if b.Shape()[axis+i] != d {
			return 0, 0, 0, layerErr(lp, "dimension mismatch between bottom[0]->shape(%d) = %d and %s->shape(%d) = %d (bottom[0] %v, %s %v)",
				axis+i, b.Shape()[axis+i], what, i, d, b.Shape(), what, s.Shape())
		}
	}
	return b.CountRange(0, axis), s.Count(), b.CountFrom(axis + s.NumAxes()), nil
}

// sumBroadcast sets acc[d] to Σ over outer and inner of a (times b when b
// is not nil), the reduction behind the Scale and Bias gradients.
func sumBroadcast(a, b []float32, outer, dim, inner int, acc []float64) {
	clear(acc)
	off := 0
	for o := 0; o < outer; o++ {
		for d := 0; d < dim; d++ {
			var s float32
			as := a[off : off+inner]
			if b == nil {
				for _, v := range as {
					s += v
				}
			} else {
				bs := b[off : off+inner]
				for i, v := range as {
					s += v * bs[i]
				}
			}
			acc[d] += float64(s)
			off += inner
		}
	}
}
