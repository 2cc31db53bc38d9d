package layers

import (
	"math/rand"
	"slices"

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
	// The window; is1x1 means no im2col is needed: the image is its own
	// column matrix.
	convWindow

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
	red          convReduceJob

	// Fast backward forms (see backwardImage); both off reproduces the
	// plain im2col/gemm/col2im form, kept as the reference.
	dwT    bool          // weight gradient accumulated transposed, per slot
	dwAcc  [][]float32   // per slot: kDim×numOutput accumulator (dwT)
	dOutT  [][]float32   // per slot: one image's top gradient transposed (dwT)
	direct bool          // bottom gradient as a convolution of the top gradient
	dgeom  blas.ConvGeom // geometry of that convolution (direct)
	dPads  [][]float32   // per slot: zero-bordered top-gradient copy (direct)
	wFlip  []float32     // channels × numOutput*kh*kw flipped weights (direct)

	dc convDirect   // direct-convolution path for few taps (conv_direct.go)
	wg convWinograd // Winograd path for 5x5 layers (conv_winograd.go)
}

// Switches for the fast backward forms; tests turn them off to compare
// against the plain form.
var (
	convUseDWT    = true
	convUseDirect = true
)

// convBlocks is the number of image blocks of the backward pass: enough
// to keep two to four threads busy with uneven progress, few enough that
// the partial weight gradients stay small. Fixed (not the thread count),
// so gradients are bit-identical whatever Threads is.
const convBlocks = 8

// Type returns "Convolution".
func (l *Convolution) Type() string { return "Convolution" }

// Params returns the weights, then the bias if bias_term.
func (l *Convolution) Params() []*Blob { return l.params }

// parseGeometry reads the window from the convolution_param.
func (l *Convolution) parseGeometry() error {
	w, err := parseConvWindow(l.lp)
	if err != nil {
		return err
	}
	l.convWindow = w
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
	// The weight gradient dW = dOut·colᵀ is a gemm with a transposed
	// operand that blas runs with its slower dot-product tiles; computed
	// as dWᵀ = col·dOutᵀ (dOut transposed per image, cheap) it is a plain
	// gemm whose N is num_output, the micro-kernel's width when that is a
	// multiple of 16 (CIFAR-10's 32 and 64) and the column matrix is tall
	// (measured: slower than the dot path on CIFAR-10's conv1, K = 75).
	l.dwT = convUseDWT && l.group == 1 && l.numOutput%16 == 0 && l.kDim >= 8*l.numOutput
	// With unit stride the bottom gradient is itself a unit-stride
	// convolution of the top gradient (padding kernel-1-pad, weights
	// flipped and transposed): an im2col of the top gradient plus the
	// forward-shaped gemm, instead of a gemm into a column matrix and a
	// col2im that adds it back (reads and writes every entry). Taken when
	// that column matrix is no larger than the one col2im would add up
	// (CIFAR-10's conv2; not LeNet's unpadded conv2, four times larger).
	l.direct = false
	if convUseDirect && l.unitStride && !l.is1x1 && l.group == 1 && l.ph <= l.kh-1 && l.pw <= l.kw-1 {
		l.dgeom = blas.ConvGeom{
			Channels: l.numOutput, Height: outH, Width: outW,
			KernelH: l.kh, KernelW: l.kw, PadH: l.kh - 1 - l.ph, PadW: l.kw - 1 - l.pw,
			StrideH: 1, StrideW: 1, DilationH: 1, DilationW: 1,
		}
		if l.dgeom.OutH() == h && l.dgeom.OutW() == w && l.dgeom.ColSize() <= l.colSize {
			l.direct = true
			l.wFlip = growF32(l.wFlip, l.channels*l.numOutput*l.kh*l.kw)
		}
	}
	l.blocks = max(1, min(convBlocks, l.num))
	l.ensureScratch(effectiveThreads(l.threads))
	for _, p := range l.pads {
		// The geometry may have moved the border: zero it all again.
		clear(p)
	}
	for _, p := range l.dPads {
		clear(p)
	}
	wn := l.numOutput * l.kDim
	l.wPart = growF32(l.wPart, (l.blocks-1)*wn)
	if l.biasTerm {
		l.bPart = growF32(l.bPart, (l.blocks-1)*l.numOutput)
	}
	l.dc.reshape(l) // direct path (conv_direct.go)
	l.wg.reshape(l) // Winograd path (conv_winograd.go)
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
	for len(l.dwAcc) < parts {
		l.dwAcc = append(l.dwAcc, nil)
		l.dOutT = append(l.dOutT, nil)
	}
	if l.dwT {
		for i := range l.dwAcc {
			l.dwAcc[i] = growF32(l.dwAcc[i], l.numOutput*l.kDim)
			l.dOutT[i] = growF32(l.dOutT[i], l.outDim)
		}
	}
	for len(l.dPads) < parts {
		l.dPads = append(l.dPads, nil)
	}
	if l.direct {
		nd := paddedSize(&l.dgeom)
		for i := range l.dPads {
			if len(l.dPads[i]) != nd {
				l.dPads[i] = make([]float32, nd)
			}
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
	if l.dc.forward(l, bottom, top) { // direct path (conv_direct.go)
		return nil
	}
	if l.wg.forward(l, bottom, top) { // Winograd path (conv_winograd.go)
		return nil
	}
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
		addBiasRows(out[:l.outDim], l.params[1].Data[:l.numOutput], l.outSpatial)
	}
}

// addBiasRows adds bias[o] to row o (of n floats) of out: eight lanes at a
// time when the rows allow, the same single add per element either way.
func addBiasRows(out, bias []float32, n int) {
	if im2colAVX && !im2colScalarOnly && n%8 == 0 && n > 0 && len(bias) > 0 {
		_ = out[len(bias)*n-1]
		addBiasRowsAVX(&out[0], &bias[0], len(bias), n)
		return
	}
	for o, bv := range bias {
		row := out[o*n : (o+1)*n]
		for j := range row {
			row[j] += bv
		}
	}
}

// Backward accumulates the weight and bias gradients over every image of
// every bottom and writes the bottom gradients that are asked for.
func (l *Convolution) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if l.dc.backward(l, top, propagateDown, bottom) { // direct path (conv_direct.go)
		return
	}
	if l.wg.backward(l, top, propagateDown, bottom) { // Winograd path (conv_winograd.go)
		return
	}
	parts := effectiveThreads(l.threads)
	l.ensureScratch(parts)
	wn := l.numOutput * l.kDim
	if l.direct && slices.Contains(propagateDown[:min(len(propagateDown), len(bottom))], true) {
		l.flipWeights()
	}
	for i, b := range bottom {
		pd := i < len(propagateDown) && propagateDown[i]
		l.bwd = convBwdJob{l: l, topDiff: top[i].Diff, in: b.Data}
		if pd {
			l.bwd.inDiff = b.Diff
		}
		runParallel(&l.bwd, parts, l.blocks)
		// Blocks 1.. summed into the diffs in block order, split over the
		// threads by ranges of weights (each element still gets its
		// partial sums in block order).
		l.red = convReduceJob{l: l, tasks: max(1, min(4*parts, wn/convReduceMin))}
		runParallel(&l.red, parts, l.red.tasks)
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
	n := 0
	if im2colAVX && !im2colScalarOnly && len(src) >= 8 {
		n = len(src) &^ 7
		addToAVX(&dst[0], &src[0], n)
	}
	for i, v := range src[n:] {
		dst[n+i] += v
	}
}

// convReduceMin is the fewest weights a reduction task takes: below it a
// helper's wake-up costs more than the adds.
const convReduceMin = 4096

// convReduceJob adds the partial weight gradients of blocks 1.. into the
// weight diff, a task per range of weights.
type convReduceJob struct {
	l     *Convolution
	tasks int
}

func (j *convReduceJob) runTask(_, t int) {
	l := j.l
	wn := l.numOutput * l.kDim
	// Ranges on 8-float boundaries, so the vector adds cover them.
	lo, hi := (t*wn/j.tasks)&^7, ((t+1)*wn/j.tasks)&^7
	if t == j.tasks-1 {
		hi = wn
	}
	wd := l.params[0].Diff[lo:hi]
	for k := 0; k < l.blocks-1; k++ {
		addTo(wd, l.wPart[k*wn+lo:k*wn+hi])
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
	acc := wd
	if l.dwT {
		acc = l.dwAcc[slot]
		clear(acc)
	}
	for n := lo; n < hi; n++ {
		dOut := j.topDiff[n*l.outDim : (n+1)*l.outDim]
		for o := range bd {
			bd[o] += sum32(dOut[o*l.outSpatial : (o+1)*l.outSpatial])
		}
		var dIn []float32
		if j.inDiff != nil {
			dIn = j.inDiff[n*l.inDim : (n+1)*l.inDim]
		}
		l.backwardImage(slot, dOut, j.in[n*l.inDim:(n+1)*l.inDim], dIn, col, l.pads[slot], acc)
	}
	if l.dwT {
		// wd[o][k] += acc[k][o]
		m := l.numOutput
		for o := 0; o < m; o++ {
			row := wd[o*l.kDim : (o+1)*l.kDim]
			for k := range row {
				row[k] += acc[k*m+o]
			}
		}
	}
}

// sum32 is the sum of v with eight running partial sums (added in a fixed
// order at the end): one serial chain of adds is bound by the add
// latency, eight are not.
func sum32(v []float32) float32 {
	if im2colAVX && !im2colScalarOnly && len(v)%8 == 0 && len(v) > 0 {
		return sum8AVX(&v[0], len(v))
	}
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(v) >= 8 {
		a := (*[8]float32)(v)
		s0 += a[0]
		s1 += a[1]
		s2 += a[2]
		s3 += a[3]
		s4 += a[4]
		s5 += a[5]
		s6 += a[6]
		s7 += a[7]
		v = v[8:]
	}
	for _, x := range v {
		s0 += x
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// flipWeights writes wFlip[c][o][ky][kx] = W[o][c][kh-1-ky][kw-1-kx], the
// kernel of the convolution that maps the top gradient to the bottom's.
func (l *Convolution) flipWeights() {
	w := l.params[0].Data
	kk := l.kh * l.kw
	for o := 0; o < l.numOutput; o++ {
		for c := 0; c < l.channels; c++ {
			src := w[(o*l.channels+c)*kk : (o*l.channels+c+1)*kk]
			dst := l.wFlip[(c*l.numOutput+o)*kk : (c*l.numOutput+o+1)*kk]
			for i, v := range src {
				dst[kk-1-i] = v
			}
		}
	}
}

// backwardImage accumulates wd += dOut * im2col(in)^T (or, with dwT,
// its transpose into the slot's accumulator) and, when dIn is not nil,
// writes dIn = col2im(W^T * dOut) (or, with direct, the equal convolution
// of dOut with the flipped weights) for one image. col is scratch.
//
// The columns are recomputed rather than kept from Forward: measured on
// LeNet's and CIFAR-10's layers, a batch-wide column cache (and, with a
// side-by-side layout, one long-K weight-gradient gemm per block of
// images) was slower than this per-image form, whose buffers stay in L2.
func (l *Convolution) backwardImage(slot int, dOut, in, dIn, col, pad, wd []float32) {
	wg := l.mg * l.kDim
	cg := l.kDim * l.outSpatial
	og := l.mg * l.outSpatial
	src := in
	if !l.is1x1 {
		l.im2col(in, col, pad)
		src = col
	}
	if l.dwT {
		// wd is the slot's kDim×numOutput accumulator (group 1).
		dt := l.dOutT[slot]
		transpose(dOut, dt, l.numOutput, l.outSpatial)
		blas.Gemm(false, false, l.kDim, l.numOutput, l.outSpatial, 1,
			src[:cg], dt, 1, wd)
	} else {
		for g := 0; g < l.group; g++ {
			blas.Gemm(false, true, l.mg, l.kDim, l.outSpatial, 1,
				dOut[g*og:(g+1)*og], src[g*cg:(g+1)*cg], 1, wd[g*wg:(g+1)*wg])
		}
	}
	if dIn == nil {
		return
	}
	if l.direct {
		im2colS1(&l.dgeom, dOut, col, l.dPads[slot], l.inDim/l.channels)
		kd := l.numOutput * l.kh * l.kw
		blas.Gemm(false, false, l.channels, l.inDim/l.channels, kd, 1,
			l.wFlip, col[:kd*(l.inDim/l.channels)], 0, dIn)
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

// transpose writes the rows×cols matrix a transposed into t (cols×rows),
// in 8×8 tiles so both sides are read and written in short runs.
func transpose(a, t []float32, rows, cols int) {
	a, t = a[:rows*cols], t[:rows*cols]
	for r0 := 0; r0 < rows; r0 += 8 {
		r1 := min(r0+8, rows)
		for c0 := 0; c0 < cols; c0 += 8 {
			c1 := min(c0+8, cols)
			for r := r0; r < r1; r++ {
				row := a[r*cols : (r+1)*cols]
				for c := c0; c < c1; c++ {
					t[c*rows+r] = row[c]
				}
			}
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
