package layers

// Direct convolution for layers with few taps per output (LeNet's conv1:
// one channel, 5x5, 25 taps). With K = channels*kh*kw that small, the
// im2col+gemm form writes and re-reads a column matrix 25 times the size
// of the image, and the gemm's K loop is too short to hide its tile
// overheads. The direct kernels keep a block of outputs in registers and
// stream the taps; the weight gradient's kernel sums the bias gradient on
// the side. Measured on LeNet's conv1 (one thread, same run): forward and
// weight+bias gradient each about 0.78x the gemm path's time.
//
// Trick for full-width vectors over an odd output width: per image, the
// input is first copied into C*kw "shifted planes", shifted[c][kx] being
// the zero-padded plane c, rows Hp = outH+kh-1 of it, columns kx ..
// kx+outW-1 (so the rows are outW floats long, not the input's width).
// Output position p = y*outW + x then reads tap (c, ky, kx) at
// shifted[c][kx][p + ky*outW]: one contiguous vector per 16 positions,
// whatever outW is, with no edge handling in the kernels.
//
// Applies to stride 1, dilation 1, group 1 (any pad) on AVX-512, and only
// to the forward pass and to the backward pass when no bottom needs a
// gradient (conv1's bottom is data); otherwise the gemm path runs.

// convDirectMaxTaps is the largest channels*kh*kw the direct path takes:
// beyond it the gemm's K loop is long enough to run near peak.
const convDirectMaxTaps = 32

// Register blocks of the kernels: the forward one keeps 4 channels × 6
// vectors of 16 positions, the weight-gradient one 4 channels × 5 taps.
const (
	cdOB  = 4      // channels per block (both kernels)
	cdPB  = 6 * 16 // positions per forward block
	cdTB  = 5      // taps per weight-gradient block
	cdVec = 16
	// Vectors of partial sums per weight-gradient block: cdOB*cdTB for
	// the weights, then cdOB for the bias.
	cdBlkVecs = cdOB*cdTB + cdOB
)

// convUseDirectKernel switches the direct path off (tests compare it with
// the gemm path).
var convUseDirectKernel = true

// convDirectPrefetch makes the kernels prefetch the next image's outputs
// (forward) or top gradient (weight gradient): from a cold cache, as in a
// training step, the weight gradient measured 0.8x the time with it.
var convDirectPrefetch = true

// convDirect is Convolution's direct-path state, sized by reshape.
type convDirect struct {
	on        bool // the geometry takes the direct path
	taps      int  // channels*kh*kw
	hp        int  // rows of a shifted plane
	shiftSize int  // floats of one image's shifted planes, plus a vector of slack
	offs      []int
	nob, ntb  int         // channel and tap blocks
	shifted   [][]float32 // per slot
	blocks    int
	// Per image block: nob*ntb*cdBlkVecs vectors of 16 partial sums of
	// the weight and bias gradients (nv floats), added across blocks as
	// vectors before the one horizontal sum per weight.
	vacc     []float32
	nv       int
	zeroBias [cdOB]float32
	fwd      convDirectFwdJob
	bwd      convDirectBwdJob
}

// reshape decides whether the direct path applies to l's current shapes
// and sizes its buffers.
func (d *convDirect) reshape(l *Convolution) {
	g := &l.geom
	outH, outW := g.OutH(), g.OutW()
	d.on = convUseDirectKernel && convDirectAVX512 && l.group == 1 &&
		g.StrideH == 1 && g.StrideW == 1 && g.DilationH == 1 && g.DilationW == 1 &&
		l.kDim <= convDirectMaxTaps && l.numOutput >= cdOB && l.outSpatial >= cdPB
	if !d.on {
		return
	}
	d.taps = l.kDim
	d.hp = outH + l.kh - 1
	d.shiftSize = l.channels*l.kw*d.hp*outW + cdVec
	d.nob = (l.numOutput + cdOB - 1) / cdOB
	d.ntb = (d.taps + cdTB - 1) / cdTB
	// Byte offsets of each tap's plane row, in the weights' (c, ky, kx)
	// order, padded to whole tap blocks with offset 0 (any readable
	// address: the padding taps' sums are dropped).
	d.offs = d.offs[:0]
	for c := 0; c < l.channels; c++ {
		for ky := 0; ky < l.kh; ky++ {
			for kx := 0; kx < l.kw; kx++ {
				d.offs = append(d.offs, 4*(((c*l.kw+kx)*d.hp+ky)*outW))
			}
		}
	}
	for len(d.offs) < d.ntb*cdTB {
		d.offs = append(d.offs, 0)
	}
	d.blocks = max(1, min(convBlocks, l.num))
	d.nv = d.nob * d.ntb * cdBlkVecs * cdVec
	d.vacc = growF32(d.vacc, d.blocks*d.nv)
	d.ensure(effectiveThreads(l.threads))
}

// ensure gives each of parts slots its buffers (only re-checked per call).
func (d *convDirect) ensure(parts int) {
	for len(d.shifted) < parts {
		d.shifted = append(d.shifted, nil)
	}
	for i := range d.shifted {
		if len(d.shifted[i]) != d.shiftSize {
			// Fresh memory: the slack past the planes stays zero, so even
			// a stray read of it is finite.
			d.shifted[i] = make([]float32, d.shiftSize)
		}
	}
}

// shift writes one image's shifted planes (see the file comment) into s.
func (d *convDirect) shift(l *Convolution, in, s []float32) {
	g := &l.geom
	h, w, outW := g.Height, g.Width, g.OutW()
	// Rows yp of a plane read input row yp-ph: valid in [y0, y1).
	y0 := min(d.hp, l.ph)
	y1 := max(y0, min(d.hp, h+l.ph))
	for c := 0; c < l.channels; c++ {
		plane := in[c*h*w : (c+1)*h*w]
		for kx := 0; kx < l.kw; kx++ {
			// Columns x of a row read input column x+kx-pw: valid in [x0, x1).
			x0 := min(outW, max(0, l.pw-kx))
			x1 := max(x0, min(outW, w+l.pw-kx))
			dst := s[(c*l.kw+kx)*d.hp*outW : (c*l.kw+kx+1)*d.hp*outW]
			if y0 > 0 || y1 < d.hp || x0 > 0 || x1 < outW {
				clear(dst) // the zero padding
			}
			if y1 == y0 || x1 == x0 {
				continue
			}
			// The block read, checked up front for the kernel.
			src := plane[(y0-l.ph)*w+x0+kx-l.pw:]
			_ = src[(y1-y0-1)*w+x1-x0-1]
			_ = dst[(y1-1)*outW+x1-1]
			convDirectCopyRowsAVX512(&dst[y0*outW+x0], &src[0], y1-y0, x1-x0, outW, w)
		}
	}
}

// forward runs the direct forward pass when it applies.
func (d *convDirect) forward(l *Convolution, bottom, top []*Blob) bool {
	if !d.on {
		return false
	}
	parts := effectiveThreads(l.threads)
	d.ensure(parts)
	for i, b := range bottom {
		d.fwd = convDirectFwdJob{l: l, in: b.Data, out: top[i].Data}
		runParallel(&d.fwd, parts, l.num)
	}
	d.fwd = convDirectFwdJob{}
	return true
}

// convDirectFwdJob is one bottom's direct forward pass, a task per image.
type convDirectFwdJob struct {
	l       *Convolution
	in, out []float32
}

func (j *convDirectFwdJob) runTask(slot, n int) {
	l := j.l
	d := &l.dc
	s := d.shifted[slot]
	d.shift(l, j.in[n*l.inDim:(n+1)*l.inDim], s)
	out := j.out[n*l.outDim : (n+1)*l.outDim]
	w := l.params[0].Data[:l.numOutput*d.taps]
	ps := l.outSpatial
	// The next image's outputs (this task's or a neighbour's: the tasks
	// are claimed in order), prefetched a stretch per call.
	next := out
	if n+1 < l.num && convDirectPrefetch {
		next = j.out[(n+1)*l.outDim : (n+2)*l.outDim]
	}
	pf := 0
	// The last channel and position blocks are moved back to end at the
	// edge: they recompute a few outputs (to the same bits) rather than
	// need masked or shorter kernels.
	for p0 := 0; p0 < ps; p0 += cdPB {
		p := min(p0, ps-cdPB)
		for o0 := 0; o0 < l.numOutput; o0 += cdOB {
			o := min(o0, l.numOutput-cdOB)
			bias := &d.zeroBias[0]
			if l.biasTerm {
				bias = &l.params[1].Data[o]
			}
			_ = out[(o+cdOB-1)*ps+p+cdPB-1]
			convDirectFwdAVX512(&s[p], &d.offs[0], d.taps, &w[o*d.taps], 4*d.taps, bias, &out[o*ps+p], 4*ps,
				&next[min(pf, len(next)-1)])
			pf += cdVec * d.taps
		}
	}
}

// backward runs the direct backward pass (weight and bias gradients only)
// when it applies and no bottom needs a gradient.
func (d *convDirect) backward(l *Convolution, top []*Blob, propagateDown []bool, bottom []*Blob) bool {
	if !d.on {
		return false
	}
	for i := range bottom {
		if i < len(propagateDown) && propagateDown[i] {
			return false
		}
	}
	parts := effectiveThreads(l.threads)
	d.ensure(parts)
	for i, b := range bottom {
		d.bwd = convDirectBwdJob{l: l, topDiff: top[i].Diff, in: b.Data}
		runParallel(&d.bwd, parts, d.blocks)
		d.reduce(l)
	}
	d.bwd = convDirectBwdJob{}
	return true
}

// reduce adds the image blocks' vectors of partial sums in block order
// (so the result does not depend on the thread count), then each
// weight's and bias's 16 lanes into its diff.
func (d *convDirect) reduce(l *Convolution) {
	total := d.vacc[:d.nv]
	for k := 1; k < d.blocks; k++ {
		addTo(total, d.vacc[k*d.nv:(k+1)*d.nv])
	}
	wd := l.params[0].Diff[:l.numOutput*d.taps]
	var bd []float32
	if l.biasTerm {
		bd = l.params[1].Diff[:l.numOutput]
	}
	// Each channel's sums come from the block that owns it: channels
	// [4b, 4b+4) from block b, which (the last one moved back to end at
	// the edge) starts at min(4b, numOutput-4). The bias sums are taken
	// from its first tap block (every tap block computes them).
	for o := 0; o < l.numOutput; o++ {
		ob := o / cdOB
		oi := o - min(ob*cdOB, l.numOutput-cdOB)
		for t := 0; t < d.taps; t++ {
			tb, ti := t/cdTB, t%cdTB
			wd[o*d.taps+t] += sum32(total[((ob*d.ntb+tb)*cdBlkVecs+oi*cdTB+ti)*cdVec:][:cdVec])
		}
		if bd != nil {
			bd[o] += sum32(total[(ob*d.ntb*cdBlkVecs+cdOB*cdTB+oi)*cdVec:][:cdVec])
		}
	}
}

// convDirectBwdJob is one bottom's weight and bias gradients, a task per
// block of images.
type convDirectBwdJob struct {
	l           *Convolution
	topDiff, in []float32
}

func (j *convDirectBwdJob) runTask(slot, blk int) {
	l := j.l
	d := &l.dc
	s, acc := d.shifted[slot], d.vacc[blk*d.nv:(blk+1)*d.nv]
	clear(acc)
	ps := l.outSpatial
	nvec, tail := ps/cdVec, ps%cdVec
	lo, hi := blk*l.num/d.blocks, (blk+1)*l.num/d.blocks
	const blkVecs = cdBlkVecs * cdVec
	for n := lo; n < hi; n++ {
		d.shift(l, j.in[n*l.inDim:(n+1)*l.inDim], s)
		dOut := j.topDiff[n*l.outDim : (n+1)*l.outDim]
		// The next image's top gradient, prefetched a stretch per call.
		next := dOut
		if n+1 < hi && convDirectPrefetch {
			next = j.topDiff[(n+1)*l.outDim : (n+2)*l.outDim]
		}
		pfStep := nvec * cdVec
		for ob := 0; ob < d.nob; ob++ {
			o := min(ob*cdOB, l.numOutput-cdOB)
			for tb := 0; tb < d.ntb; tb++ {
				c := ob*d.ntb + tb
				a := acc[c*blkVecs : (c+1)*blkVecs]
				pf := &next[min(c*pfStep, len(next)-1)]
				convDirectDWAVX512(&s[0], &d.offs[tb*cdTB], &dOut[o*ps], 4*ps, nvec, uint64(1)<<tail-1, &a[0], pf)
			}
		}
	}
}
