package layers

import (
	"math/rand"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Bias", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		bp := p.GetBiasParam()
		return &Bias{lp: p, rng: contextRand(ctx), axisParam: int(bp.GetAxis()), numAxes: int(bp.GetNumAxes())}, nil
	})
}

// Bias is Caffe's Bias layer: y = x + b, b broadcast over bottom[0]
// starting at axis. With one bottom, b is a learned param of shape
// bottom[0].shape[axis : axis+num_axes] (num_axes -1: to the last axis; 0:
// a scalar) filled by filler (default constant 0); with two bottoms b is
// bottom[1] and num_axes is ignored. In place is allowed.
type Bias struct {
	lp                 *caffepb.LayerParameter
	rng                *rand.Rand
	axisParam, numAxes int
	bias               *Blob // nil when b comes from bottom[1]
	params             []*Blob

	outer, dim, inner int
	acc               []float64
}

// Type returns "Bias".
func (l *Bias) Type() string { return "Bias" }

// Params returns the bias in the one-bottom form, nothing otherwise.
func (l *Bias) Params() []*Blob { return l.params }

// Setup creates and fills the bias (or takes it from the LayerParameter)
// and shapes the top.
func (l *Bias) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 2, 1, 1); err != nil {
		return err
	}
	if len(bottom) == 1 {
		shape, err := paramBroadcastShape(l.lp, bottom[0], l.axisParam, l.numAxes)
		if err != nil {
			return err
		}
		if l.bias, err = newParam(l.lp, "bias", l.lp.GetBiasParam().GetFiller(), l.rng, shape...); err != nil {
			return err
		}
		l.params = []*Blob{l.bias}
		if err := loadLayerBlobs(l.lp, l.params); err != nil {
			return err
		}
	}
	return l.Reshape(bottom, top)
}

// Reshape checks b against bottom[0], computes the broadcast and shapes
// the top.
func (l *Bias) Reshape(bottom, top []*Blob) error {
	b := l.bias
	if len(bottom) > 1 {
		b = bottom[1]
	}
	var err error
	if l.outer, l.dim, l.inner, err = broadcastDims(l.lp, bottom[0], b, l.axisParam, "bias"); err != nil {
		return err
	}
	neuronReshape(bottom[:1], top)
	if cap(l.acc) < l.dim {
		l.acc = make([]float64, l.dim)
	}
	l.acc = l.acc[:l.dim]
	return nil
}

// Forward computes y = x + b.
func (l *Bias) Forward(bottom, top []*Blob) error {
	b := l.bias
	if len(bottom) > 1 {
		b = bottom[1]
	}
	x, y := bottom[0].Data[:bottom[0].Count()], top[0].Data
	off := 0
	for o := 0; o < l.outer; o++ {
		for d := 0; d < l.dim; d++ {
			bv := b.Data[d]
			ys := y[off : off+l.inner]
			for i, v := range x[off : off+l.inner] {
				ys[i] = v + bv
			}
			off += l.inner
		}
	}
	return nil
}

// Backward passes dy to x and sums it into the bias gradient (accumulated
// for the param, written for bottom[1]).
func (l *Bias) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	dy := top[0].Diff[:top[0].Count()]
	if propagates(propagateDown, 0) && top[0] != bottom[0] {
		copy(bottom[0].Diff, dy)
	}
	if l.bias == nil && !propagates(propagateDown, 1) {
		return
	}
	sumBroadcast(dy, nil, l.outer, l.dim, l.inner, l.acc)
	for d, v := range l.acc {
		if l.bias != nil {
			l.bias.Diff[d] += float32(v)
		} else {
			bottom[1].Diff[d] = float32(v)
		}
	}
}
