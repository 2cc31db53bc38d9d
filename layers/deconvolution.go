package layers

import (
	"math/rand"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Deconvolution", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Deconvolution{lp: p, rng: contextRand(ctx)}, nil
	})
}

// Deconvolution is Caffe's Deconvolution layer (transposed convolution)
// for two spatial axes, configured by convolution_param exactly as
// Convolution. It is Convolution's backward pass run forward: per group,
// a gemm with the transposed weights gives a column matrix that col2im
// scatters into the larger output, of size
// stride*(in-1) + dilation*(kernel-1)+1 - 2*pad per spatial axis.
//
// Weights have Caffe's shape [channels, num_output/group, kernel_h,
// kernel_w] (input channels first, the reverse of Convolution), the bias
// [num_output]. Several bottom/top pairs of the same shape share the
// weights, as in Caffe.
type Deconvolution struct {
	lp  *caffepb.LayerParameter
	rng *rand.Rand

	numOutput, group int
	biasTerm         bool
	axis             int
	g                convWindow

	weight, bias *Blob
	params       []*Blob

	num        int
	channels   int           // input channels
	outGeom    blas.ConvGeom // the geometry of the top, whose im2col has the bottom's spatial size
	inSpatial  int           // H*W of the bottom
	outSpatial int
	inDim      int
	outDim     int
	kDim       int // rows of one group's column matrix: num_output/group*kh*kw
	cg         int // input channels per group
	col        []float32
	shape      []int
}

// Type returns "Deconvolution".
func (l *Deconvolution) Type() string { return "Deconvolution" }

// Params returns the weights, then the bias if bias_term.
func (l *Deconvolution) Params() []*Blob { return l.params }

// Setup checks the parameters against bottom[0], creates and fills the
// weights and bias (or takes them from the LayerParameter) and shapes the
// tops.
func (l *Deconvolution) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, -1, 1, -1); err != nil {
		return err
	}
	if len(bottom) != len(top) {
		return layerErr(l.lp, "needs one top per bottom, got %d bottoms and %d tops", len(bottom), len(top))
	}
	cp := l.lp.GetConvolutionParam()
	var err error
	if l.g, err = parseConvWindow(l.lp); err != nil {
		return err
	}
	if l.axis, err = bottom[0].CanonicalAxis(int(cp.GetAxis())); err != nil {
		return layerErr(l.lp, "%v", err)
	}
	if sp := bottom[0].NumAxes() - l.axis - 1; sp != 2 {
		return layerErr(l.lp, "only 2 spatial axes are supported, bottom %q of shape %v has %d after the channel axis %d",
			bottom[0].Name, bottom[0].Shape(), sp, l.axis)
	}
	l.channels = bottom[0].Shape()[l.axis]
	l.numOutput = int(cp.GetNumOutput())
	if l.numOutput <= 0 {
		return layerErr(l.lp, "num_output must be positive, got %d", l.numOutput)
	}
	l.group = int(cp.GetGroup())
	if l.group <= 0 {
		return layerErr(l.lp, "group must be positive, got %d", l.group)
	}
	if l.channels%l.group != 0 {
		return layerErr(l.lp, "number of channels (%d) should be a multiple of group (%d)", l.channels, l.group)
	}
	if l.numOutput%l.group != 0 {
		return layerErr(l.lp, "number of outputs (num_output %d) should be a multiple of group (%d)", l.numOutput, l.group)
	}
	l.biasTerm = cp.GetBiasTerm()
	if l.weight, err = newParam(l.lp, "weight", cp.GetWeightFiller(), l.rng, l.channels, l.numOutput/l.group, l.g.kh, l.g.kw); err != nil {
		return err
	}
	l.params = []*Blob{l.weight}
	if l.biasTerm {
		if l.bias, err = newParam(l.lp, "bias", cp.GetBiasFiller(), l.rng, l.numOutput); err != nil {
			return err
		}
		l.params = append(l.params, l.bias)
	}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape computes the output size, shapes the tops and sizes the column
// buffer.
func (l *Deconvolution) Reshape(bottom, top []*Blob) error {
	b0 := bottom[0]
	if b0.NumAxes() != l.axis+3 {
		return layerErr(l.lp, "bottom %q has shape %v, expected %d axes", b0.Name, b0.Shape(), l.axis+3)
	}
	if c := b0.Shape()[l.axis]; c != l.channels {
		return layerErr(l.lp, "bottom %q has %d channels, the layer was set up for %d", b0.Name, c, l.channels)
	}
	for i := 1; i < len(bottom); i++ {
		if !bottom[i].ShapeEquals(b0.Shape()) {
			return layerErr(l.lp, "all inputs must have the same shape: bottom[0] %v vs. bottom[%d] %v", b0.Shape(), i, bottom[i].Shape())
		}
	}
	g := l.g
	h, w := b0.Shape()[l.axis+1], b0.Shape()[l.axis+2]
	outH := g.sh*(h-1) + g.dh*(g.kh-1) + 1 - 2*g.ph
	outW := g.sw*(w-1) + g.dw*(g.kw-1) + 1 - 2*g.pw
	if outH <= 0 || outW <= 0 {
		return layerErr(l.lp, "output size %dx%d is not positive for bottom %q %v (padding %dx%d too large)", outH, outW, b0.Name, b0.Shape(), g.ph, g.pw)
	}
	l.outGeom = blas.ConvGeom{
		Channels: l.numOutput, Height: outH, Width: outW,
		KernelH: g.kh, KernelW: g.kw, PadH: g.ph, PadW: g.pw,
		StrideH: g.sh, StrideW: g.sw, DilationH: g.dh, DilationW: g.dw,
	}
	l.num = b0.CountRange(0, l.axis)
	l.inSpatial = h * w
	l.outSpatial = outH * outW
	l.inDim = l.channels * l.inSpatial
	l.outDim = l.numOutput * l.outSpatial
	l.kDim = l.numOutput / l.group * g.kh * g.kw
	l.cg = l.channels / l.group
	l.shape = append(append(l.shape[:0], b0.Shape()[:l.axis]...), l.numOutput, outH, outW)
	for _, t := range top {
		t.Reshape(l.shape...)
	}
	if !g.is1x1 {
		l.col = ensureLen(l.col, l.kDim*l.group*l.inSpatial)
	}
	return nil
}

// Forward computes, per image, col = Wᵀ·x (per group), top = col2im(col)
// + bias.
func (l *Deconvolution) Forward(bottom, top []*Blob) error {
	wg := l.cg * l.kDim
	for bi, b := range bottom {
		for n := 0; n < l.num; n++ {
			x := b.Data[n*l.inDim : (n+1)*l.inDim]
			y := top[bi].Data[n*l.outDim : (n+1)*l.outDim]
			col := l.col
			if l.g.is1x1 {
				col = y
			}
			for g := 0; g < l.group; g++ {
				blas.Gemm(true, false, l.kDim, l.inSpatial, l.cg, 1,
					l.weight.Data[g*wg:(g+1)*wg], x[g*l.cg*l.inSpatial:(g+1)*l.cg*l.inSpatial],
					0, col[g*l.kDim*l.inSpatial:(g+1)*l.kDim*l.inSpatial])
			}
			if !l.g.is1x1 {
				blas.Col2im(l.outGeom, l.col, y)
			}
			if l.biasTerm {
				for o, bv := range l.bias.Data[:l.numOutput] {
					row := y[o*l.outSpatial : (o+1)*l.outSpatial]
					for j := range row {
						row[j] += bv
					}
				}
			}
		}
	}
	return nil
}

// Backward accumulates the weight gradient x·im2col(dy)ᵀ and the bias
// gradient, and writes dx = W·im2col(dy), per image and group.
func (l *Deconvolution) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	wg := l.cg * l.kDim
	for bi, b := range bottom {
		for n := 0; n < l.num; n++ {
			dy := top[bi].Diff[n*l.outDim : (n+1)*l.outDim]
			if l.biasTerm {
				for o := 0; o < l.numOutput; o++ {
					var s float32
					for _, v := range dy[o*l.outSpatial : (o+1)*l.outSpatial] {
						s += v
					}
					l.bias.Diff[o] += s
				}
			}
			col := dy
			if !l.g.is1x1 {
				blas.Im2col(l.outGeom, dy, l.col)
				col = l.col
			}
			x := b.Data[n*l.inDim : (n+1)*l.inDim]
			for g := 0; g < l.group; g++ {
				blas.Gemm(false, true, l.cg, l.kDim, l.inSpatial, 1,
					x[g*l.cg*l.inSpatial:(g+1)*l.cg*l.inSpatial], col[g*l.kDim*l.inSpatial:(g+1)*l.kDim*l.inSpatial],
					1, l.weight.Diff[g*wg:(g+1)*wg])
			}
			if !propagates(propagateDown, bi) {
				continue
			}
			dx := b.Diff[n*l.inDim : (n+1)*l.inDim]
			for g := 0; g < l.group; g++ {
				blas.Gemm(false, false, l.cg, l.inSpatial, l.kDim, 1,
					l.weight.Data[g*wg:(g+1)*wg], col[g*l.kDim*l.inSpatial:(g+1)*l.kDim*l.inSpatial],
					0, dx[g*l.cg*l.inSpatial:(g+1)*l.cg*l.inSpatial])
			}
		}
	}
}
