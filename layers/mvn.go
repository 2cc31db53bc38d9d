package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("MVN", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		mp := p.GetMvnParam()
		return &MVN{lp: p, normVar: mp.GetNormalizeVariance(), across: mp.GetAcrossChannels(), eps: float64(mp.GetEps())}, nil
	})
}

// MVN is Caffe's mean-variance normalization layer: every row (each
// channel of each sample, or each whole sample with across_channels) gets
// its mean subtracted and, with normalize_variance (the default), is
// divided by its standard deviation + eps:
//
//	y = (x - mean) / (sqrt(E[(x-mean)²]) + eps)
//
// The gradient, (dy - mean(dy) - y·mean(y·dy)) / (std + eps), needs only y
// and the per-row std, so in place is allowed.
type MVN struct {
	lp              *caffepb.LayerParameter
	normVar, across bool
	eps             float64
	num, dim        int
	std             []float32 // per row: std + eps
}

// Type returns "MVN".
func (l *MVN) Type() string { return "MVN" }

// Params returns nil: MVN has no learnable blobs.
func (l *MVN) Params() []*Blob { return nil }

// Setup checks the blob counts and shapes the top.
func (l *MVN) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape splits the bottom into rows as Caffe does (num, or num×channels).
func (l *MVN) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	l.num = b.Num()
	if !l.across {
		l.num *= b.Channels()
	}
	if l.num == 0 {
		l.dim = 0
	} else {
		l.dim = b.Count() / l.num
	}
	neuronReshape(bottom, top)
	l.std = ensureLen(l.std, l.num)
	return nil
}

// Forward normalizes every row.
func (l *MVN) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	d := l.dim
	for i := 0; i < l.num; i++ {
		xs, ys := x[i*d:(i+1)*d], y[i*d:(i+1)*d]
		var sum float64
		for _, v := range xs {
			sum += float64(v)
		}
		mean := sum / float64(d)
		if !l.normVar {
			for j, v := range xs {
				ys[j] = float32(float64(v) - mean)
			}
			continue
		}
		var sq float64
		for _, v := range xs {
			c := float64(v) - mean
			sq += c * c
		}
		s := math.Sqrt(sq/float64(d)) + l.eps
		l.std[i] = float32(s)
		for j, v := range xs {
			ys[j] = float32((float64(v) - mean) / s)
		}
	}
	return nil
}

// Backward writes the gradient of the normalization.
func (l *MVN) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	y, dy, dx := top[0].Data, top[0].Diff, bottom[0].Diff
	d := l.dim
	for i := 0; i < l.num; i++ {
		ys, gs, out := y[i*d:(i+1)*d], dy[i*d:(i+1)*d], dx[i*d:(i+1)*d]
		var sg, syg float64
		for j, g := range gs {
			sg += float64(g)
			syg += float64(g) * float64(ys[j])
		}
		mg, myg := sg/float64(d), syg/float64(d)
		if !l.normVar {
			for j, g := range gs {
				out[j] = float32(float64(g) - mg)
			}
			continue
		}
		s := float64(l.std[i])
		// ys and out may alias in place: read y before writing dx.
		for j, g := range gs {
			out[j] = float32((float64(g) - mg - float64(ys[j])*myg) / s)
		}
	}
}
