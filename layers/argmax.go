package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("ArgMax", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		ap := p.GetArgmaxParam()
		if ap.GetTopK() < 1 {
			return nil, layerErr(p, "argmax_param.top_k must be at least 1")
		}
		l := &ArgMax{lp: p, topK: int(ap.GetTopK()), outMaxVal: ap.GetOutMaxVal(), hasAxis: ap != nil && ap.Axis != nil, axisParam: int(ap.GetAxis())}
		return l, nil
	})
}

// ArgMax is Caffe's ArgMax layer: the indices of the top_k largest values
// (ties: the larger index first, as Caffe's sort of (value, index) pairs).
// Without axis it works per sample over all values, top N×1×K (N×2×K with
// out_max_val: K indices then K values, trailing axes of size 1 up to 3
// axes); with axis it works along that axis, the top being the bottom's
// shape with K there, holding the values instead of the indices when
// out_max_val is set. It has no gradient.
type ArgMax struct {
	lp                 *caffepb.LayerParameter
	topK               int
	outMaxVal, hasAxis bool
	axisParam          int
	axis               int
	num, dim, inner    int
	vals               []float32
	idx                []int
	shape              []int // top shape, reused
}

// Type returns "ArgMax".
func (l *ArgMax) Type() string { return "ArgMax" }

// Params returns nil: ArgMax has no learnable blobs.
func (l *ArgMax) Params() []*Blob { return nil }

// AllowForceBackward is false: ArgMax has no gradient.
func (l *ArgMax) AllowForceBackward(i int) bool { return false }

// Setup checks the blob counts and shapes the top.
func (l *ArgMax) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape computes the top shape as Caffe does.
func (l *ArgMax) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if b.NumAxes() == 0 {
		return layerErr(l.lp, "bottom %q has no axes", b.Name)
	}
	if l.hasAxis {
		ax, err := b.CanonicalAxis(l.axisParam)
		if err != nil {
			return layerErr(l.lp, "argmax_param.axis: %v", err)
		}
		l.axis = ax
		l.dim = b.Shape()[ax]
		l.inner = b.CountFrom(ax + 1)
		l.num = b.Count() / max(l.dim, 1)
		l.shape = resizeInts(l.shape, b.NumAxes())
		copy(l.shape, b.Shape())
		l.shape[ax] = l.topK
	} else {
		l.num = b.Shape()[0]
		l.dim = b.CountFrom(1)
		l.inner = 1
		l.shape = resizeInts(l.shape, max(b.NumAxes(), 3))
		for i := range l.shape {
			l.shape[i] = 1
		}
		l.shape[0] = l.num
		l.shape[2] = l.topK
		if l.outMaxVal {
			l.shape[1] = 2
		}
	}
	if l.topK > l.dim {
		return layerErr(l.lp, "top_k (%d) must not exceed the number of values to choose from (%d)", l.topK, l.dim)
	}
	top[0].Reshape(l.shape...)
	l.vals = ensureLen(l.vals, l.dim)
	if cap(l.idx) < l.dim {
		l.idx = make([]int, l.dim)
	}
	l.idx = l.idx[:l.dim]
	return nil
}

// Forward selects the top_k values of every row.
func (l *ArgMax) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	k := l.topK
	for i := 0; i < l.num; i++ {
		outer, in := i/l.inner, i%l.inner
		for j := 0; j < l.dim; j++ {
			l.vals[j] = x[(outer*l.dim+j)*l.inner+in]
			l.idx[j] = j
		}
		// Selection of the k best: (value, index) pairs compared as Caffe's
		// std::greater, so equal values go larger index first.
		for a := 0; a < k; a++ {
			best := a
			for c := a + 1; c < l.dim; c++ {
				if l.vals[c] > l.vals[best] || (l.vals[c] == l.vals[best] && l.idx[c] > l.idx[best]) {
					best = c
				}
			}
			l.vals[a], l.vals[best] = l.vals[best], l.vals[a]
			l.idx[a], l.idx[best] = l.idx[best], l.idx[a]
		}
		for a := 0; a < k; a++ {
			switch {
			case l.hasAxis:
				v := float32(l.idx[a])
				if l.outMaxVal {
					v = l.vals[a]
				}
				y[(outer*k+a)*l.inner+in] = v
			case l.outMaxVal:
				y[i*2*k+a] = float32(l.idx[a])
				y[i*2*k+k+a] = l.vals[a]
			default:
				y[i*k+a] = float32(l.idx[a])
			}
		}
	}
	return nil
}

// Backward does nothing: ArgMax has no gradient.
func (l *ArgMax) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if propagates(propagateDown, 0) {
		clear(bottom[0].Diff[:bottom[0].Count()])
	}
}
