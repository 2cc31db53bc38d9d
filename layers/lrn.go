package layers

import (
	"math"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("LRN", newLRN)
}

// LRN is Caffe's local response normalization, y = x * scale^-beta.
//
// ACROSS_CHANNELS: scale = k + alpha/local_size * Σ x² over the local_size
// channels centred on the element's channel (clipped at the edges).
//
// WITHIN_CHANNEL: Caffe builds this region from a square, an AVE pooling of
// local_size×local_size (pad (local_size-1)/2, stride 1) and a Power layer
// with shift 1, so scale = 1 + alpha/local_size² * Σ x² over the spatial
// window centred on the element (zero padded: the divisor is always
// local_size²), and k is ignored, exactly as Caffe does.
//
// local_size must be odd, as in Caffe. In-place computation is refused
// (the gradient needs both x and y).
type LRN struct {
	lp             *caffepb.LayerParameter
	size, pre      int
	alpha, beta, k float32
	within         bool
	num, ch, h, w  int
	scale          []float32 // per element
	pw             []float32 // per element: scale^-beta
	plane          []float32 // one H×W plane of horizontal window sums (WITHIN_CHANNEL)
	ratio          []float32 // one image of dy*y/scale, Backward only
}

func newLRN(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
	lp := p.GetLrnParam()
	size := int(lp.GetLocalSize())
	if size%2 != 1 {
		return nil, layerErr(p, "LRN only supports odd values for local_size, got %d", size)
	}
	l := &LRN{
		lp: p, size: size, pre: (size - 1) / 2,
		alpha: lp.GetAlpha(), beta: lp.GetBeta(), k: lp.GetK(),
		within: lp.GetNormRegion() == caffepb.LRNParameter_WITHIN_CHANNEL,
	}
	return l, nil
}

// Type returns "LRN".
func (l *LRN) Type() string { return "LRN" }

// Params returns nil: LRN has no learnable blobs.
func (l *LRN) Params() []*Blob { return nil }

// Setup checks the blobs and shapes the top.
func (l *LRN) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, 1); err != nil {
		return err
	}
	if top[0] == bottom[0] {
		return layerErr(l.lp, "LRN does not allow in-place computation")
	}
	return l.Reshape(bottom, top)
}

// Reshape shapes the top like the bottom (which must be 4-D) and sizes the
// scale buffer.
func (l *LRN) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if b.NumAxes() != 4 {
		return layerErr(l.lp, "input must have 4 axes, corresponding to (num, channels, height, width); bottom %q has shape %v", b.Name, b.Shape())
	}
	l.num, l.ch, l.h, l.w = b.Num(), b.Channels(), b.Height(), b.Width()
	top[0].ReshapeLike(b)
	l.scale = ensureLen(l.scale, b.Count())
	l.pw = ensureLen(l.pw, b.Count())
	l.plane = ensureLen(l.plane, l.h*l.w)
	l.ratio = ensureLen(l.ratio, l.ch*l.h*l.w)
	return nil
}

// negPow returns s^-beta, with a fast path for Caffe's default beta 0.75.
func (l *LRN) negPow(s float32) float32 {
	if l.beta == 0.75 {
		d := float64(s)
		return float32(1 / math.Sqrt(d*math.Sqrt(d)))
	}
	return float32(math.Pow(float64(s), -float64(l.beta)))
}

// windowSum adds the window sums of src (one image, C×H×W) into dst (one
// image) using the normalization region: across channels, dst[c] +=
// Σ src[c'] for |c'-c| <= pre; within a channel, the spatial box of radius
// pre. squared squares src first.
func (l *LRN) windowSum(src, dst []float32, squared bool) {
	hw := l.h * l.w
	if !l.within {
		for c := 0; c < l.ch; c++ {
			out := dst[c*hw : (c+1)*hw]
			lo, hi := max(c-l.pre, 0), min(c+l.pre, l.ch-1)
			for cc := lo; cc <= hi; cc++ {
				in := src[cc*hw : (cc+1)*hw]
				if squared {
					for i, v := range in {
						out[i] += v * v
					}
				} else {
					for i, v := range in {
						out[i] += v
					}
				}
			}
		}
		return
	}
	// The spatial box sum is separable: sum each row's horizontal window
	// into l.plane, then add the vertical window of those rows.
	for c := 0; c < l.ch; c++ {
		in := src[c*hw : (c+1)*hw]
		out := dst[c*hw : (c+1)*hw]
		for y := 0; y < l.h; y++ {
			row, hs := in[y*l.w:(y+1)*l.w], l.plane[y*l.w:(y+1)*l.w]
			for x := range hs {
				var s float32
				for _, v := range row[max(x-l.pre, 0):min(x+l.pre+1, l.w)] {
					if squared {
						v *= v
					}
					s += v
				}
				hs[x] = s
			}
		}
		for y := 0; y < l.h; y++ {
			o := out[y*l.w : (y+1)*l.w]
			for yy := max(y-l.pre, 0); yy <= min(y+l.pre, l.h-1); yy++ {
				for x, v := range l.plane[yy*l.w : (yy+1)*l.w] {
					o[x] += v
				}
			}
		}
	}
}

// coeff is the factor of the window sum in scale: alpha/size across
// channels, alpha/size² within a channel.
func (l *LRN) coeff() float32 {
	if l.within {
		return l.alpha / float32(l.size*l.size)
	}
	return l.alpha / float32(l.size)
}

// base is the constant term of scale: k across channels, 1 within.
func (l *LRN) base() float32 {
	if l.within {
		return 1
	}
	return l.k
}

// Forward computes scale and y = x * scale^-beta.
func (l *LRN) Forward(bottom, top []*Blob) error {
	dim := l.ch * l.h * l.w
	c, k := l.coeff(), l.base()
	for n := 0; n < l.num; n++ {
		x := bottom[0].Data[n*dim : (n+1)*dim]
		y := top[0].Data[n*dim : (n+1)*dim]
		s := l.scale[n*dim : (n+1)*dim]
		pw := l.pw[n*dim : (n+1)*dim]
		clear(s)
		l.windowSum(x, s, true)
		for i := range s {
			s[i] = k + c*s[i]
			pw[i] = l.negPow(s[i])
			y[i] = x[i] * pw[i]
		}
	}
	return nil
}

// Backward computes dx = dy*scale^-beta - 2*alpha'*beta*x * Σ_window dy*y/scale,
// alpha' being alpha/size (across) or alpha/size² (within); the windows are
// symmetric, so the sum runs over the same window as the forward pass.
func (l *LRN) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if !propagates(propagateDown, 0) {
		return
	}
	dim := l.ch * l.h * l.w
	f := 2 * l.coeff() * l.beta
	acc := l.ratio
	for n := 0; n < l.num; n++ {
		x := bottom[0].Data[n*dim : (n+1)*dim]
		dx := bottom[0].Diff[n*dim : (n+1)*dim]
		y := top[0].Data[n*dim : (n+1)*dim]
		dy := top[0].Diff[n*dim : (n+1)*dim]
		s := l.scale[n*dim : (n+1)*dim]
		pw := l.pw[n*dim : (n+1)*dim]
		// dx doubles as the window-sum output: it is overwritten below.
		for i := range acc {
			acc[i] = dy[i] * y[i] / s[i]
		}
		clear(dx)
		l.windowSum(acc, dx, false)
		for i := range dx {
			dx[i] = dy[i]*pw[i] - f*x[i]*dx[i]
		}
	}
}
