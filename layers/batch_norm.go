package layers

import (
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("BatchNorm", newBatchNorm)
}

// NoGradientParams is implemented by layers some of whose Params are state
// the layer updates itself in Forward rather than weights learned by
// gradient descent (BatchNorm's running mean, variance and scale factor).
// Backward never writes the diffs of such params; the solver must not
// update them (no learning rate, no weight decay), and a distributed run
// need not average their diffs. They are still saved to and loaded from
// .caffemodel files like any other param, in Caffe's order.
type NoGradientParams interface {
	// NoGradientParam reports whether Params()[i] is such state.
	NoGradientParam(i int) bool
}

// BatchNorm is Caffe's BatchNorm layer: it normalizes each channel (axis
// 1) to zero mean and unit variance over the batch and spatial positions,
// y = (x - mean) / sqrt(var + eps). It has no scale or shift of its own
// (Caffe pairs it with a Scale layer with bias_term).
//
// Its three blobs are Caffe's: blob[0] the running sum of means, blob[1]
// the running sum of variances, both of shape [channels], and blob[2] of
// shape [1] the running normalizer; the estimates are blob[0]/blob[2] and
// blob[1]/blob[2] (0 when blob[2] is 0). In training (use_global_stats
// false) each Forward uses the batch statistics and updates
// blob[2] = maf*blob[2] + 1, blob[0] = maf*blob[0] + mean and
// blob[1] = maf*blob[1] + m/(m-1)*var (m = values per channel, the
// unbiased correction), maf being moving_average_fraction. With
// use_global_stats (the default in TEST) Forward uses the stored estimates
// and leaves them alone.
//
// The blobs are not learned: the layer implements NoGradientParams, and,
// as Caffe does, the constructor appends `param { lr_mult: 0 }` to the
// LayerParameter for each blob the prototxt leaves unspecified and rejects
// a nonzero lr_mult. In place is allowed (the usual BatchNorm+Scale block).
type BatchNorm struct {
	lp             *caffepb.LayerParameter
	useGlobal      bool
	maf, eps       float32
	mean, variance *Blob
	factor         *Blob
	params         []*Blob

	channels, num, spatial int
	bMean, bStd            []float32 // per channel: the mean and sqrt(var+eps) used
	xnorm                  []float32 // y, kept for Backward (a later in-place layer may overwrite the top)
}

func newBatchNorm(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	bp := p.GetBatchNormParam()
	l := &BatchNorm{
		lp:        p,
		useGlobal: phaseOfLayer(p, ctx) == caffepb.Phase_TEST,
		maf:       bp.GetMovingAverageFraction(),
		eps:       bp.GetEps(),
	}
	if bp != nil && bp.UseGlobalStats != nil {
		l.useGlobal = bp.GetUseGlobalStats()
	}
	if l.eps < 0 {
		return nil, layerErr(p, "eps must be non-negative, got %g", l.eps)
	}
	for i := 0; i < 3; i++ {
		if i < len(p.Param) {
			if p.Param[i].GetLrMult() != 0 {
				return nil, layerErr(p, "cannot configure batch normalization statistics as layer parameters: param %d has lr_mult %g, must be 0", i, p.Param[i].GetLrMult())
			}
			continue
		}
		p.Param = append(p.Param, &caffepb.ParamSpec{LrMult: proto.Float32(0)})
	}
	return l, nil
}

// Type returns "BatchNorm".
func (l *BatchNorm) Type() string { return "BatchNorm" }

// Params returns the running mean, variance and normalizer (Caffe's order).
func (l *BatchNorm) Params() []*Blob { return l.params }

// NoGradientParam reports true for all three blobs: they are statistics.
func (l *BatchNorm) NoGradientParam(i int) bool { return true }

// Setup creates the zeroed statistics (or takes them from the
// LayerParameter) and shapes the top.
func (l *BatchNorm) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	c := 1
	if bottom[0].NumAxes() > 1 {
		c = bottom[0].Shape()[1]
	}
	l.channels = c
	mk := func(what string, n int) *Blob {
		b := NewBlob(n)
		b.Name = l.lp.GetName() + "." + what
		return b
	}
	l.mean, l.variance, l.factor = mk("mean", c), mk("variance", c), mk("scale_factor", 1)
	l.params = []*Blob{l.mean, l.variance, l.factor}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape shapes the top and sizes the per-channel and x_norm buffers.
func (l *BatchNorm) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	c := 1
	if b.NumAxes() > 1 {
		c = b.Shape()[1]
	}
	if c != l.channels {
		return layerErr(l.lp, "bottom %q has %d channels, the layer was set up for %d", b.Name, c, l.channels)
	}
	if b.NumAxes() < 1 || b.Count() == 0 {
		return layerErr(l.lp, "bottom %q is empty (shape %v)", b.Name, b.Shape())
	}
	l.num = b.Shape()[0]
	l.spatial = b.Count() / (l.num * c)
	neuronReshape(bottom, top)
	l.bMean = ensureLen(l.bMean, c)
	l.bStd = ensureLen(l.bStd, c)
	l.xnorm = ensureLen(l.xnorm, b.Count())
	return nil
}

// Forward normalizes with the batch statistics (updating the running
// ones) or, with use_global_stats, with the stored estimates.
func (l *BatchNorm) Forward(bottom, top []*Blob) error {
	x, y := bottom[0].Data, top[0].Data
	c, sp := l.channels, l.spatial
	m := float64(l.num * sp)
	if l.useGlobal {
		f := float32(0)
		if l.factor.Data[0] != 0 {
			f = 1 / l.factor.Data[0]
		}
		for ch := 0; ch < c; ch++ {
			l.bMean[ch] = f * l.mean.Data[ch]
			l.bStd[ch] = float32(math.Sqrt(float64(f*l.variance.Data[ch] + l.eps)))
		}
	} else {
		for ch := 0; ch < c; ch++ {
			var s float64
			for n := 0; n < l.num; n++ {
				for _, v := range x[(n*c+ch)*sp : (n*c+ch+1)*sp] {
					s += float64(v)
				}
			}
			mu := s / m
			var q float64
			for n := 0; n < l.num; n++ {
				for _, v := range x[(n*c+ch)*sp : (n*c+ch+1)*sp] {
					d := float64(v) - mu
					q += d * d
				}
			}
			vr := q / m
			l.bMean[ch] = float32(mu)
			l.bStd[ch] = float32(math.Sqrt(float64(float32(vr) + l.eps)))
			// Caffe's moving averages: sums weighted by maf, with the
			// unbiased variance; the normalizer blob[2] tracks the weights.
			corr := 1.0
			if m > 1 {
				corr = m / (m - 1)
			}
			l.mean.Data[ch] = float32(mu) + l.maf*l.mean.Data[ch]
			l.variance.Data[ch] = float32(corr*vr) + l.maf*l.variance.Data[ch]
		}
		l.factor.Data[0] = l.factor.Data[0]*l.maf + 1
	}
	for n := 0; n < l.num; n++ {
		for ch := 0; ch < c; ch++ {
			off := (n*c + ch) * sp
			mu, inv := l.bMean[ch], 1/l.bStd[ch]
			xs, ys, zs := x[off:off+sp], y[off:off+sp], l.xnorm[off:off+sp]
			for i, v := range xs {
				v = (v - mu) * inv
				ys[i] = v
				zs[i] = v
			}
		}
	}
	return nil
}

// Backward writes dx = dy/std with global statistics, otherwise Caffe's
// dx = (dy - mean(dy) - mean(dy*y)*y) / std, the means taken per channel.
// It never touches the statistics' diffs.
func (l *BatchNorm) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	dy, dx := top[0].Diff, bottom[0].Diff
	c, sp := l.channels, l.spatial
	m := float64(l.num * sp)
	for ch := 0; ch < c; ch++ {
		inv := 1 / l.bStd[ch]
		if l.useGlobal {
			for n := 0; n < l.num; n++ {
				off := (n*c + ch) * sp
				for i, g := range dy[off : off+sp] {
					dx[off+i] = g * inv
				}
			}
			continue
		}
		// Sums first: in place dx and dy are the same array.
		var sdy, sdyy float64
		for n := 0; n < l.num; n++ {
			off := (n*c + ch) * sp
			ys := l.xnorm[off : off+sp]
			for i, g := range dy[off : off+sp] {
				sdy += float64(g)
				sdyy += float64(g * ys[i])
			}
		}
		mdy, mdyy := float32(sdy/m), float32(sdyy/m)
		for n := 0; n < l.num; n++ {
			off := (n*c + ch) * sp
			ys := l.xnorm[off : off+sp]
			for i, g := range dy[off : off+sp] {
				dx[off+i] = (g - mdy - mdyy*ys[i]) * inv
			}
		}
	}
}
