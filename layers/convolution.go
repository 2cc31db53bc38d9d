package layers

import (
	"math/rand"

	"github.com/cos-project/cos/blas"
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Convolution", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Convolution{lp: p, rng: contextRand(ctx), threads: threadsOf(ctx)}, nil
	})
}

// Convolution is Caffe's Convolution layer for two spatial axes: im2col of
// each image followed by one gemm per group, with weights of shape
// [num_output, channels/group, kernel_h, kernel_w] and a bias of shape
// [num_output], exactly Caffe's parameter layout so .caffemodel files
// interoperate.
//
// Several bottom/top pairs of the same shape may share the one set of
// weights, as in Caffe.
//
// The images of a batch are spread over Context.Threads goroutines, each
// with its own column buffer and single-threaded gemms (see parallel.go):
// per-image gemms are far too small to split well, while images are
// independent. The weight and bias gradients are summed per block of
// images, and the blocks added in order, so the result does not depend on
// the thread count or on scheduling.
type Convolution struct {
	lp      *caffepb.LayerParameter
	rng     *rand.Rand
	threads int // Context.Threads (0: GOMAXPROCS)

	numOutput, group int
	biasTerm         bool
	axis             int // channel axis
	kh, kw           int
	ph, pw           int
	sh, sw           int
	dh, dw           int
	is1x1            bool // no im2col needed: the image is its own column matrix

	// params are read through this slice at every call, never cached, so
	// a net that swaps in shared blobs is seen.
	params []*Blob

	// Shapes of the current Reshape.
	num            int // images: product of the axes before the channel axis
	channels       int
	geom           blas.ConvGeom
	outSpatial     int // outH*outW
	inDim, outDim  int // floats per image in bottom and top
	kDim           int // rows of one group's column matrix: channels/group*kh*kw
	mg             int // num_output / group
	colSize        int
	cols           [][]float32 // per participant slot
	pads           [][]float32 // per slot: zero-bordered image copy (unit stride with padding)
	unitStride     bool        // im2colS1/col2imS1 apply
	topShapeBuffer []int

	// Backward partial sums per image block (block 0 adds into the param
	// diffs directly): blocks×weights and blocks×num_output floats.
	blocks       int
	wPart, bPart []float32
	fwd          convFwdJob
	bwd          convBwdJob
}

// convBlocks is the number of image blocks of the backward pass: enough
// to keep two to four threads busy with uneven progress, few enough that
// the partial weight gradients stay small. Fixed (not the thread count),
// so gradients are bit-identical whatever Threads is.
const convBlocks = 8

// Type returns "Convolution".
func (l *Convolution) Type() string { return "Convolution" }

// Params returns the weights, then the bias if bias_term.
func (l *Convolution) Params() []*Blob { return l.params }

// parseGeometry reads kernel, pad, stride and dilation in every form Caffe
// accepts for two spatial axes: kernel_size/pad/stride/dilation given once
// or once per axis, or the kernel_h/_w, pad_h/_w, stride_h/_w fields.
func (l *Convolution) parseGeometry() error {
	cp := l.lp.GetConvolutionParam()
	if cp == nil {
		cp = &caffepb.ConvolutionParameter{}
	}
	pick := func(field string, vals []uint32, def int) (int, int, error) {
		switch len(vals) {
		case 0:
			return def, def, nil
		case 1:
			return int(vals[0]), int(vals[0]), nil
		case 2:
			return int(vals[0]), int(vals[1]), nil
		}
		return 0, 0, layerErr(l.lp, "%s must be specified once, or once per spatial dimension (%s specified %d times; 2 spatial dims)", field, field, len(vals))
	}
	var err error
	if cp.KernelH != nil || cp.KernelW != nil {
		if len(cp.GetKernelSize()) != 0 {
			return layerErr(l.lp, "either kernel_size or kernel_h/w should be specified; not both")
		}
		l.kh, l.kw = int(cp.GetKernelH()), int(cp.GetKernelW())
	} else {
		if len(cp.GetKernelSize()) == 0 {
			return layerErr(l.lp, "kernel_size or kernel_h and kernel_w must be specified")
		}
		if l.kh, l.kw, err = pick("kernel_size", cp.GetKernelSize(), 0); err != nil {
			return err
		}
	}
	if l.kh <= 0 || l.kw <= 0 {
		return layerErr(l.lp, "filter dimensions must be nonzero (kernel %dx%d)", l.kh, l.kw)
	}
	if cp.PadH != nil || cp.PadW != nil {
		if len(cp.GetPad()) != 0 {
			return layerErr(l.lp, "either pad or pad_h/w should be specified; not both")
		}
		l.ph, l.pw = int(cp.GetPadH()), int(cp.GetPadW())
	} else if l.ph, l.pw, err = pick("pad", cp.GetPad(), 0); err != nil {
		return err
	}
	if cp.StrideH != nil || cp.StrideW != nil {
		if len(cp.GetStride()) != 0 {
			return layerErr(l.lp, "either stride or stride_h/w should be specified; not both")
		}
		l.sh, l.sw = int(cp.GetStrideH()), int(cp.GetStrideW())
	} else if l.sh, l.sw, err = pick("stride", cp.GetStride(), 1); err != nil {
		return err
	}
	if l.sh <= 0 || l.sw <= 0 {
		return layerErr(l.lp, "stride dimensions must be nonzero (stride %dx%d)", l.sh, l.sw)
	}
	if l.dh, l.dw, err = pick("dilation", cp.GetDilation(), 1); err != nil {
		return err
	}
	if l.dh <= 0 || l.dw <= 0 {
		return layerErr(l.lp, "dilation dimensions must be nonzero (dilation %dx%d)", l.dh, l.dw)
	}
	l.is1x1 = l.kh == 1 && l.kw == 1 && l.sh == 1 && l.sw == 1 && l.ph == 0 && l.pw == 0
	return nil
}

// Setup checks the parameters against bottom[0], creates and fills the
// weights and bias (or takes them from the LayerParameter's blobs), and
// shapes the tops.
func (l *Convolution) Setup(bottom, top []*Blob) error {
	if err := checkBlobCounts(l.lp, bottom, top, 1, -1, 1, -1); err != nil {
		return err
	}
	if len(bottom) != len(top) {
		return layerErr(l.lp, "needs one top per bottom, got %d bottoms and %d tops", len(bottom), len(top))
	}
	cp := l.lp.GetConvolutionParam()
	if err := l.parseGeometry(); err != nil {
		return err
	}
	axis, err := bottom[0].CanonicalAxis(int(cp.GetAxis()))
	if err != nil {
		return layerErr(l.lp, "%v", err)
	}
	if sp := bottom[0].NumAxes() - axis - 1; sp != 2 {
		return layerErr(l.lp, "only 2 spatial axes are supported, bottom %q of shape %v has %d after the channel axis %d",
			bottom[0].Name, bottom[0].Shape(), sp, axis)
	}
	l.axis = axis
	l.channels = bottom[0].Shape()[axis]
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
		return layerErr(l.lp, "num_output (%d) should be a multiple of group (%d)", l.numOutput, l.group)
	}
	l.biasTerm = cp.GetBiasTerm()
	weight, err := newParam(l.lp, "weight", cp.GetWeightFiller(), l.rng, l.numOutput, l.channels/l.group, l.kh, l.kw)
	if err != nil {
		return err
	}
	l.params = []*Blob{weight}
	if l.biasTerm {
		bias, err := newParam(l.lp, "bias", cp.GetBiasFiller(), l.rng, l.numOutput)
		if err != nil {
			return err
		}
		l.params = append(l.params, bias)
	}
	if err := loadLayerBlobs(l.lp, l.params); err != nil {
		return err
	}
	return l.Reshape(bottom, top)
}

// Reshape computes the output size, Caffe's
// (in + 2*pad - (dilation*(kernel-1)+1)) / stride + 1 rounded down, shapes
// the tops and sizes the column buffer.
func (l *Convolution) Reshape(bottom, top []*Blob) error {
	b0 := bottom[0]
	if b0.NumAxes() != l.axis+3 {
		return layerErr(l.lp, "bottom %q has shape %v, expected %d axes", b0.Name, b0.Shape(), l.axis+3)
	}
	if c := b0.Shape()[l.axis]; c != l.channels {
		return layerErr(l.lp, "input size incompatible with convolution kernel: bottom %q has %d channels, the layer was set up for %d",
			b0.Name, c, l.channels)
	}
	for i := 1; i < len(bottom); i++ {
		if !bottom[i].ShapeEquals(b0.Shape()) {
			return layerErr(l.lp, "shape mismatch: bottom[0] %v vs. bottom[%d] %v", b0.Shape(), i, bottom[i].Shape())
		}
	}
	h, w := b0.Shape()[l.axis+1], b0.Shape()[l.axis+2]
	l.geom = blas.ConvGeom{
		Channels: l.channels, Height: h, Width: w,
		KernelH: l.kh, KernelW: l.kw, PadH: l.ph, PadW: l.pw,
		StrideH: l.sh, StrideW: l.sw, DilationH: l.dh, DilationW: l.dw,
	}
	extH, extW := l.dh*(l.kh-1)+1, l.dw*(l.kw-1)+1
	if h+2*l.ph < extH || w+2*l.pw < extW {
		return layerErr(l.lp, "kernel %dx%d (dilated extent %dx%d) is larger than the padded input %dx%d of bottom %q %v",
			l.kh, l.kw, extH, extW, h+2*l.ph, w+2*l.pw, b0.Name, b0.Shape())
	}
	outH, outW := l.geom.OutH(), l.geom.OutW()
	l.num = b0.CountRange(0, l.axis)
	l.outSpatial = outH * outW
	l.inDim = l.channels * h * w
	l.outDim = l.numOutput * l.outSpatial
	l.kDim = l.channels / l.group * l.kh * l.kw
	l.mg = l.numOutput / l.group
	l.topShapeBuffer = append(append(l.topShapeBuffer[:0], b0.Shape()[:l.axis]...), l.numOutput, outH, outW)
	for _, t := range top {
		t.Reshape(l.topShapeBuffer...)
	}
	l.unitStride = isUnitStride(&l.geom)
	l.colSize = 0
	if !l.is1x1 {
		l.colSize = l.geom.ColSize()
	}
	l.blocks = max(1, min(convBlocks, l.num))
	l.ensureScratch(effectiveThreads(l.threads))
	for _, p := range l.pads {
		// The geometry may have moved the border: zero it all again.
		clear(p)
	}
	wn := l.numOutput * l.kDim
	l.wPart = growF32(l.wPart, (l.blocks-1)*wn)
	if l.biasTerm {
		l.bPart = growF32(l.bPart, (l.blocks-1)*l.numOutput)
	}
	return nil
}

// ensureScratch gives each of parts participants a column buffer. Reshape
// sizes them; Forward and Backward only re-check (GOMAXPROCS may have
// grown since), so a warmed-up step allocates nothing.
func (l *Convolution) ensureScratch(parts int) {
	for len(l.cols) < parts {
		l.cols = append(l.cols, nil)
	}
	for len(l.pads) < parts {
		l.pads = append(l.pads, nil)
	}
	np := 0
	if l.unitStride {
		np = paddedSize(&l.geom)
	}
	for i := range l.cols {
		l.cols[i] = growF32(l.cols[i], l.colSize)
		if len(l.pads[i]) != np {
			// Fresh (zeroed) memory: im2colS1 relies on a zero border.
			l.pads[i] = make([]float32, np)
		}
	}
}

// growF32 returns s resized to n, reallocating only when it must grow.
func growF32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Forward convolves every image of every bottom.
func (l *Convolution) Forward(bottom, top []*Blob) error {
	parts := effectiveThreads(l.threads)
	l.ensureScratch(parts)
	for i, b := range bottom {
		l.fwd = convFwdJob{l: l, in: b.Data, out: top[i].Data}
		runParallel(&l.fwd, parts, l.num)
	}
	l.fwd = convFwdJob{}
	return nil
}

// convFwdJob is one bottom's forward pass, a task per image.
type convFwdJob struct {
	l       *Convolution
	in, out []float32
}

func (j *convFwdJob) runTask(slot, n int) {
	l := j.l
	l.forwardImage(j.in[n*l.inDim:(n+1)*l.inDim], j.out[n*l.outDim:(n+1)*l.outDim], l.cols[slot], l.pads[slot])
}

// forwardImage computes out = W * im2col(in) + bias for one image.
func (l *Convolution) forwardImage(in, out, col, pad []float32) {
	if l.is1x1 {
		col = in
	} else {
		l.im2col(in, col, pad)
	}
	wg := l.mg * l.kDim
	cg := l.kDim * l.outSpatial
	og := l.mg * l.outSpatial
	w := l.params[0].Data
	for g := 0; g < l.group; g++ {
		blas.Gemm(false, false, l.mg, l.outSpatial, l.kDim, 1,
			w[g*wg:(g+1)*wg], col[g*cg:(g+1)*cg], 0, out[g*og:(g+1)*og])
	}
	if l.biasTerm {
		for o, bv := range l.params[1].Data[:l.numOutput] {
			row := out[o*l.outSpatial : (o+1)*l.outSpatial]
			for j := range row {
				row[j] += bv
			}
		}
	}
}

// Backward accumulates the weight and bias gradients over every image of
// every bottom and writes the bottom gradients that are asked for.
func (l *Convolution) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	parts := effectiveThreads(l.threads)
	l.ensureScratch(parts)
	wn := l.numOutput * l.kDim
	for i, b := range bottom {
		pd := i < len(propagateDown) && propagateDown[i]
		l.bwd = convBwdJob{l: l, topDiff: top[i].Diff, in: b.Data}
		if pd {
			l.bwd.inDiff = b.Diff
		}
		runParallel(&l.bwd, parts, l.blocks)
		// Blocks 1.. summed into the diffs in block order.
		wd := l.params[0].Diff[:wn]
		for k := 0; k < l.blocks-1; k++ {
			addTo(wd, l.wPart[k*wn:(k+1)*wn])
		}
		if l.biasTerm {
			bd := l.params[1].Diff[:l.numOutput]
			for k := 0; k < l.blocks-1; k++ {
				addTo(bd, l.bPart[k*l.numOutput:(k+1)*l.numOutput])
			}
		}
	}
	l.bwd = convBwdJob{}
}

// addTo adds src into dst element-wise.
func addTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// convBwdJob is one bottom's backward pass, a task per block of images.
type convBwdJob struct {
	l                   *Convolution
	topDiff, in, inDiff []float32
}

func (j *convBwdJob) runTask(slot, blk int) {
	l := j.l
	wn := l.numOutput * l.kDim
	// Block 0 accumulates straight into the param diffs (they accumulate
	// anyway); the others start their partial sums from zero.
	wd := l.params[0].Diff[:wn]
	var bd []float32
	if l.biasTerm {
		bd = l.params[1].Diff[:l.numOutput]
	}
	if blk > 0 {
		wd = l.wPart[(blk-1)*wn : blk*wn]
		clear(wd)
		if l.biasTerm {
			bd = l.bPart[(blk-1)*l.numOutput : blk*l.numOutput]
			clear(bd)
		}
	}
	lo, hi := blk*l.num/l.blocks, (blk+1)*l.num/l.blocks
	col := l.cols[slot]
	for n := lo; n < hi; n++ {
		dOut := j.topDiff[n*l.outDim : (n+1)*l.outDim]
		for o := range bd {
			var s float32
			for _, v := range dOut[o*l.outSpatial : (o+1)*l.outSpatial] {
				s += v
			}
			bd[o] += s
		}
		var dIn []float32
		if j.inDiff != nil {
			dIn = j.inDiff[n*l.inDim : (n+1)*l.inDim]
		}
		l.backwardImage(dOut, j.in[n*l.inDim:(n+1)*l.inDim], dIn, col, l.pads[slot], wd)
	}
}

// backwardImage accumulates wd += dOut * im2col(in)^T and, when dIn is
// not nil, writes dIn = col2im(W^T * dOut) for one image. col is scratch.
//
// The columns are recomputed rather than kept from Forward: measured on
// LeNet's and CIFAR-10's layers, a batch-wide column cache (and, with a
// side-by-side layout, one long-K weight-gradient gemm per block of
// images) was slower than this per-image form, whose buffers stay in L2.
func (l *Convolution) backwardImage(dOut, in, dIn, col, pad, wd []float32) {
	wg := l.mg * l.kDim
	cg := l.kDim * l.outSpatial
	og := l.mg * l.outSpatial
	src := in
	if !l.is1x1 {
		l.im2col(in, col, pad)
		src = col
	}
	for g := 0; g < l.group; g++ {
		blas.Gemm(false, true, l.mg, l.kDim, l.outSpatial, 1,
			dOut[g*og:(g+1)*og], src[g*cg:(g+1)*cg], 1, wd[g*wg:(g+1)*wg])
	}
	if dIn == nil {
		return
	}
	// The column buffer is free again: the weight gradient is done with it.
	dCol := dIn
	if !l.is1x1 {
		dCol = col
	}
	w := l.params[0].Data
	for g := 0; g < l.group; g++ {
		blas.Gemm(true, false, l.kDim, l.outSpatial, l.mg, 1,
			w[g*wg:(g+1)*wg], dOut[g*og:(g+1)*og], 0, dCol[g*cg:(g+1)*cg])
	}
	if !l.is1x1 {
		if l.unitStride {
			col2imS1(&l.geom, col, dIn, pad)
		} else {
			col2imFast(&l.geom, col, dIn)
		}
	}
}

// im2col writes the column matrix of one image, with the unit-stride form
// when it applies.
func (l *Convolution) im2col(in, col, pad []float32) {
	if l.unitStride {
		im2colS1(&l.geom, in, col, pad, l.outSpatial)
		return
	}
	im2colFast(&l.geom, in, col, l.outSpatial)
}
