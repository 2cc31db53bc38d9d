package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Softmax", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Softmax{lp: p}, nil
	})
}

// Softmax is Caffe's Softmax layer: a normalised exponential over one axis
// (softmax_param.axis, default 1), independently for every position of the
// axes before and after it.
type Softmax struct {
	lp                  *caffepb.LayerParameter
	axis                int
	outer, channels, in int       // in: count of the axes after axis
	scale               []float32 // per inner position: running max, then sum / dot
}

// Type returns "Softmax".
func (l *Softmax) Type() string { return "Softmax" }

// Params returns nil: Softmax has no learnable blobs.
func (l *Softmax) Params() []*Blob { return nil }

// Setup checks the blob counts and the axis and shapes the top.
func (l *Softmax) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape gives the top the bottom's shape and sizes the scratch row.
func (l *Softmax) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	axis, err := b.CanonicalAxis(int(l.lp.GetSoftmaxParam().GetAxis()))
	if err != nil {
		return layerErr(l.lp, "%v", err)
	}
	l.axis = axis
	l.outer = b.CountRange(0, axis)
	l.channels = b.Shape()[axis]
	l.in = b.CountFrom(axis + 1)
	if top[0] != b {
		top[0].ReshapeLike(b)
	}
	if cap(l.scale) < l.in {
		l.scale = make([]float32, l.in)
	}
	l.scale = l.scale[:l.in]
	return nil
}

// Forward computes exp(x - max) / sum over the softmax axis; subtracting
// the max keeps exp from overflowing.
func (l *Softmax) Forward(bottom, top []*Blob) error {
	softmaxForward(bottom[0].Data, top[0].Data, l.outer, l.channels, l.in, l.scale)
	return nil
}

// softmaxForward is shared with SoftmaxWithLoss. x and y may be the same
// slice. scale must hold inner floats.
func softmaxForward(x, y []float32, outer, channels, inner int, scale []float32) {
	dim := channels * inner
	for o := 0; o < outer; o++ {
		xs, ys := x[o*dim:(o+1)*dim], y[o*dim:(o+1)*dim]
		copy(scale, xs[:inner])
		for c := 1; c < channels; c++ {
			for j, v := range xs[c*inner : (c+1)*inner] {
				if v > scale[j] {
					scale[j] = v
				}
			}
		}
		for c := 0; c < channels; c++ {
			row := xs[c*inner : (c+1)*inner]
			out := ys[c*inner : (c+1)*inner]
			for j, v := range row {
				out[j] = float32(math.Exp(float64(v - scale[j])))
			}
		}
		clear(scale)
		for c := 0; c < channels; c++ {
			for j, v := range ys[c*inner : (c+1)*inner] {
				scale[j] += v
			}
		}
		for c := 0; c < channels; c++ {
			out := ys[c*inner : (c+1)*inner]
			for j := range out {
				out[j] /= scale[j]
			}
		}
	}
}

// Backward computes dx = (dy - <dy, y>) * y per position, which also works
// in place (top and bottom the same blob).
func (l *Softmax) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(propagateDown) == 0 || !propagateDown[0] {
		return
	}
	y, dy, dx := top[0].Data, top[0].Diff, bottom[0].Diff
	inner := l.in
	dim := l.channels * inner
	scale := l.scale
	for o := 0; o < l.outer; o++ {
		ys, dys, dxs := y[o*dim:(o+1)*dim], dy[o*dim:(o+1)*dim], dx[o*dim:(o+1)*dim]
		clear(scale)
		for c := 0; c < l.channels; c++ {
			yr, dr := ys[c*inner:(c+1)*inner], dys[c*inner:(c+1)*inner]
			for j, v := range yr {
				scale[j] += v * dr[j]
			}
		}
		for c := 0; c < l.channels; c++ {
			yr, dr, xr := ys[c*inner:(c+1)*inner], dys[c*inner:(c+1)*inner], dxs[c*inner:(c+1)*inner]
			for j, v := range yr {
				xr[j] = (dr[j] - scale[j]) * v
			}
		}
	}
}
