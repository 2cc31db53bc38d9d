package layers

import (
	"math/rand"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("PReLU", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &PReLU{lp: p, rng: contextRand(ctx), shared: p.GetPreluParam().GetChannelShared()}, nil
	})
}

// PReLU is Caffe's PReLU layer: y = max(0,x) + a_c*min(0,x) with a
// learnable slope a_c per channel (axis 1), or one slope for all channels
// with channel_shared. The slope blob has shape [channels], or no axes at
// all (one value) when shared, as Caffe stores it; its filler defaults to
// constant 0.25. In place is allowed: the layer keeps a copy of x.
type PReLU struct {
	lp     *caffepb.LayerParameter
	rng    *rand.Rand
	shared bool
	slope  *Blob
	params []*Blob

	channels, dim int // dim: elements per channel plane
	saved         []float32
}

// Type returns "PReLU".
func (l *PReLU) Type() string { return "PReLU" }

// Params returns the slopes.
func (l *PReLU) Params() []*Blob { return l.params }

// Setup creates and fills the slopes (or takes them from the
// LayerParameter) and shapes the top.
func (l *PReLU) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	b := bottom[0]
	if b.NumAxes() < 2 {
		return layerErr(l.lp, "number of axes of bottom %q must be >= 2, got shape %v", b.Name, b.Shape())
	}
	fp := l.lp.GetPreluParam().GetFiller()
	if fp == nil {
		fp = &caffepb.FillerParameter{Type: proto.String("constant"), Value: proto.Float32(0.25)}
	}
	var err error
	if l.shared {
		l.slope, err = newParam(l.lp, "slope", fp, l.rng)
	} else {
		l.slope, err = newParam(l.lp, "slope", fp, l.rng, b.Channels())
	}
	if err != nil {
		return err
	}
	l.params = []*Blob{l.slope}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape shapes the top and, in place, sizes the copy of x.
func (l *PReLU) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if b.NumAxes() < 2 {
		return layerErr(l.lp, "number of axes of bottom %q must be >= 2, got shape %v", b.Name, b.Shape())
	}
	l.channels = b.Channels()
	if !l.shared && l.channels != l.slope.Count() {
		return layerErr(l.lp, "bottom %q has %d channels, the layer has %d slopes", b.Name, l.channels, l.slope.Count())
	}
	l.dim = b.CountFrom(2)
	neuronReshape(bottom, top)
	if top[0] == bottom[0] {
		l.saved = ensureLen(l.saved, b.Count())
	}
	return nil
}

// slopeAt is the slope of channel c.
func (l *PReLU) slopeAt(c int) float32 {
	if l.shared {
		return l.slope.Data[0]
	}
	return l.slope.Data[c]
}

// Forward applies the slopes to the negative inputs, one channel plane at
// a time.
func (l *PReLU) Forward(bottom, top []*Blob) error {
	n := bottom[0].Count()
	x, y := bottom[0].Data[:n], top[0].Data[:n]
	if top[0] == bottom[0] {
		copy(l.saved, x)
	}
	for off, c := 0, 0; off < n; off, c = off+l.dim, (c+1)%l.channels {
		a := l.slopeAt(c)
		for i, v := range x[off : off+l.dim] {
			if v <= 0 {
				v *= a
			}
			y[off+i] = v
		}
	}
	return nil
}

// Backward accumulates the slope gradient Σ dy*x over x <= 0, and writes
// dx = dy for x > 0, a*dy otherwise.
func (l *PReLU) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	n := bottom[0].Count()
	x := bottom[0].Data[:n]
	if top[0] == bottom[0] {
		x = l.saved[:n]
	}
	dy := top[0].Diff[:n]
	var shared float64
	for off, c := 0, 0; off < n; off, c = off+l.dim, (c+1)%l.channels {
		var s float64
		for i, v := range x[off : off+l.dim] {
			if v <= 0 {
				s += float64(dy[off+i] * v)
			}
		}
		if l.shared {
			shared += s
		} else {
			l.slope.Diff[c] += float32(s)
		}
	}
	if l.shared {
		l.slope.Diff[0] += float32(shared)
	}
	if !propagates(propagateDown, 0) {
		return
	}
	dx := bottom[0].Diff[:n]
	for off, c := 0, 0; off < n; off, c = off+l.dim, (c+1)%l.channels {
		a := l.slopeAt(c)
		for i, v := range x[off : off+l.dim] {
			if v > 0 {
				dx[off+i] = dy[off+i]
			} else {
				dx[off+i] = dy[off+i] * a
			}
		}
	}
}
