package layers

import (
	"math"
	"unsafe"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Pooling", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Pooling{lp: p, threads: threadsOf(ctx)}, nil
	})
}

// Pooling is Caffe's Pooling layer (MAX and AVE; STOCHASTIC is refused) over
// the two spatial axes of an N×C×H×W bottom, with Caffe's output size:
// ceil((H + 2*pad - kernel) / stride) + 1 (floor with round_mode FLOOR),
// minus one when padding would make the last window start in the padding.
//
// MAX keeps the argmax of each window for Backward (its index h*W + w
// within the plane; for planes tiled by 2x2 windows and for the
// whole-plane 3x3 stride-2 kernels, its position in the window, one
// byte) and writes the index to an optional second top, as Caffe does.
//
// Planes are independent, so large batches are split over
// Context.Threads goroutines by blocks of planes.
type Pooling struct {
	lp      *caffepb.LayerParameter
	threads int
	job     poolJob

	method        caffepb.PoolingParameter_PoolMethod
	global        bool
	kh, kw        int
	ph, pw        int
	sh, sw        int
	floor         bool
	num, channels int
	height, width int
	outH, outW    int
	mask          []int32 // MAX: argmax per top element, -1 for an empty window
	// MAX on planes tiled by 2x2 windows (tiled2x2) or through the
	// whole-plane 3x3 kernels (plane3x3s2): instead of mask, the argmax's
	// position in its window (row-major, 0-3 or 0-8; 0xff: none), a
	// quarter of the bytes for Forward to write and Backward to read.
	bmask []uint8
	// AVE through the whole-plane 3x3 kernels (plane3x3s2): the
	// divisors of a plane's windows.
	div        []float32
	topShape   []int
	rows, cols []poolSpan // windows of each output row and column
}

// Type returns "Pooling".
func (l *Pooling) Type() string { return "Pooling" }

// Params returns nil: pooling has no learnable blobs.
func (l *Pooling) Params() []*Blob { return nil }

// Setup checks the parameters (Caffe's rules on kernel, pad, stride and
// global_pooling) and shapes the tops.
func (l *Pooling) Setup(bottom, top []*Blob) error {
	pp := l.lp.GetPoolingParam()
	if pp == nil {
		pp = &caffepb.PoolingParameter{}
	}
	l.method = pp.GetPool()
	maxTop := 1
	switch l.method {
	case caffepb.PoolingParameter_MAX:
		maxTop = 2
	case caffepb.PoolingParameter_AVE:
	default:
		return layerErr(l.lp, "pool method %v is not supported (only MAX and AVE)", l.method)
	}
	if err := checkBlobCounts(l.lp, bottom, top, 1, 1, 1, maxTop); err != nil {
		return err
	}
	l.global = pp.GetGlobalPooling()
	hasKernelHW := pp.KernelH != nil || pp.KernelW != nil
	if l.global {
		if pp.KernelSize != nil || hasKernelHW {
			return layerErr(l.lp, "with global_pooling: true the filter size cannot be specified")
		}
	} else {
		if pp.KernelSize != nil && hasKernelHW {
			return layerErr(l.lp, "filter size is kernel_size OR kernel_h and kernel_w; not both")
		}
		if pp.KernelSize == nil && !(pp.KernelH != nil && pp.KernelW != nil) {
			return layerErr(l.lp, "for non-square filters both kernel_h and kernel_w are required (or give kernel_size)")
		}
		if hasKernelHW {
			l.kh, l.kw = int(pp.GetKernelH()), int(pp.GetKernelW())
		} else {
			l.kh, l.kw = int(pp.GetKernelSize()), int(pp.GetKernelSize())
		}
		if l.kh <= 0 || l.kw <= 0 {
			return layerErr(l.lp, "filter dimensions cannot be zero (kernel %dx%d)", l.kh, l.kw)
		}
	}
	if pp.PadH != nil || pp.PadW != nil {
		if pp.Pad != nil {
			return layerErr(l.lp, "pad is pad OR pad_h and pad_w; not both")
		}
		l.ph, l.pw = int(pp.GetPadH()), int(pp.GetPadW())
	} else {
		l.ph, l.pw = int(pp.GetPad()), int(pp.GetPad())
	}
	if pp.StrideH != nil || pp.StrideW != nil {
		if pp.Stride != nil {
			return layerErr(l.lp, "stride is stride OR stride_h and stride_w; not both")
		}
		l.sh, l.sw = int(pp.GetStrideH()), int(pp.GetStrideW())
	} else {
		l.sh, l.sw = int(pp.GetStride()), int(pp.GetStride())
	}
	if l.sh <= 0 || l.sw <= 0 {
		return layerErr(l.lp, "stride must be positive (stride %dx%d)", l.sh, l.sw)
	}
	if l.global && (l.ph != 0 || l.pw != 0 || l.sh != 1 || l.sw != 1) {
		return layerErr(l.lp, "with global_pooling: true only pad = 0 and stride = 1 are allowed")
	}
	if !l.global && (l.ph >= l.kh || l.pw >= l.kw) {
		return layerErr(l.lp, "pad (%dx%d) must be smaller than the kernel (%dx%d)", l.ph, l.pw, l.kh, l.kw)
	}
	l.floor = pp.GetRoundMode() == caffepb.PoolingParameter_FLOOR
	return l.Reshape(bottom, top)
}

// pooledSize is Caffe's output-size rule along one axis.
func pooledSize(in, k, pad, stride int, floor bool) int {
	q := float64(in+2*pad-k) / float64(stride)
	var out int
	if floor {
		out = int(math.Floor(q)) + 1
	} else {
		out = int(math.Ceil(q)) + 1
	}
	// With padding, the last window must start inside the image (or the
	// left padding), never entirely in the right padding.
	if pad > 0 && (out-1)*stride >= in+pad {
		out--
	}
	return out
}

// Reshape computes the pooled size and shapes the tops and the argmax mask.
func (l *Pooling) Reshape(bottom, top []*Blob) error {
	b := bottom[0]
	if b.NumAxes() != 4 {
		return layerErr(l.lp, "input must have 4 axes, corresponding to (num, channels, height, width); bottom %q has shape %v", b.Name, b.Shape())
	}
	l.num, l.channels, l.height, l.width = b.Num(), b.Channels(), b.Height(), b.Width()
	if l.global {
		l.kh, l.kw = l.height, l.width
	}
	if l.height+2*l.ph < l.kh || l.width+2*l.pw < l.kw {
		return layerErr(l.lp, "kernel %dx%d is larger than the padded input %dx%d of bottom %q %v",
			l.kh, l.kw, l.height+2*l.ph, l.width+2*l.pw, b.Name, b.Shape())
	}
	l.outH = pooledSize(l.height, l.kh, l.ph, l.sh, l.floor)
	l.outW = pooledSize(l.width, l.kw, l.pw, l.sw, l.floor)
	l.rows = spans(l.rows, l.outH, l.height, l.kh, l.ph, l.sh)
	l.cols = spans(l.cols, l.outW, l.width, l.kw, l.pw, l.sw)
	// A held slice: a variadic argument list would be allocated per call.
	l.topShape = append(l.topShape[:0], l.num, l.channels, l.outH, l.outW)
	for _, t := range top {
		t.Reshape(l.topShape...)
	}
	if l.method == caffepb.PoolingParameter_MAX {
		n := l.num * l.channels * l.outH * l.outW
		if cap(l.mask) < n {
			l.mask = make([]int32, n)
		}
		l.mask = l.mask[:n]
		if cap(l.bmask) < n {
			l.bmask = make([]uint8, n)
		}
		l.bmask = l.bmask[:n]
	}
	if l.method == caffepb.PoolingParameter_AVE {
		l.aveDivisors()
	}
	return nil
}

// poolParMin is the number of input floats below which pooling runs on
// the calling goroutine: waking a helper costs a few microseconds.
const poolParMin = 1 << 15

// poolJob is one Forward or Backward call, a task per block of planes.
type poolJob struct {
	l        *Pooling
	backward bool
	in, out  []float32 // forward: bottom data, top data; backward: top diff, bottom diff
	tasks    int
}

func (j *poolJob) runTask(_, t int) {
	l := j.l
	planes := l.num * l.channels
	lo, hi := t*planes/j.tasks, (t+1)*planes/j.tasks
	if j.backward {
		l.backwardPlanes(j.in, j.out, lo, hi)
	} else {
		l.forwardPlanes(j.in, j.out, lo, hi)
	}
}

// run splits planes over the threads when the layer is big enough.
func (l *Pooling) run(backward bool, in, out []float32) {
	planes := l.num * l.channels
	parts := effectiveThreads(l.threads)
	if parts < 2 || planes*l.height*l.width < poolParMin {
		if backward {
			l.backwardPlanes(in, out, 0, planes)
		} else {
			l.forwardPlanes(in, out, 0, planes)
		}
		return
	}
	// Several blocks per thread, so a thread slowed by other processes
	// hands its share to the others.
	l.job = poolJob{l: l, backward: backward, in: in, out: out, tasks: min(planes, 8*parts)}
	runParallel(&l.job, parts, l.job.tasks)
	l.job = poolJob{}
}

// Forward pools every plane.
func (l *Pooling) Forward(bottom, top []*Blob) error {
	l.run(false, bottom[0].Data, top[0].Data)
	if l.method == caffepb.PoolingParameter_MAX && len(top) > 1 {
		m := top[1].Data
		if l.tiled2x2() && poolByteMask || l.plane3x3s2() {
			l.bmaskIndices(m)
			return nil
		}
		for i, v := range l.mask {
			m[i] = float32(v)
		}
	}
	return nil
}

// bmaskIndices writes the byte masks (position kw*row + column in a
// stride-2 window) as Caffe's top mask: the argmax's index h*W + w in its
// plane, -1 for an empty window.
func (l *Pooling) bmaskIndices(m []float32) {
	w, ow, kw := l.width, l.outW, l.kw
	i := 0
	for p := 0; p < l.num*l.channels; p++ {
		for y := 0; y < l.outH; y++ {
			for x := 0; x < ow; x++ {
				b := int(l.bmask[i])
				v := float32(-1)
				if b != 0xff {
					v = float32((2*y+b/kw)*w + 2*x + b%kw)
				}
				m[i] = v
				i++
			}
		}
	}
}

// rowPacking is how maxPool2x2s2PAVX512 packs k output rows of n <= 8
// windows (2n input columns) into one 16-lane vector: row s's windows in
// lanes [s*16/k, s*16/k+n), its input columns loaded into the 32-column
// pair Z0:Z1 at column 32s/k.
type rowPacking struct {
	k                    int
	kLo, kHi, kOut, kCnt uint64
	off1, off2, off3     int
	inStep, outStep      int
}

// poolPack enables the packed kernels (benchmarks compare them with one
// output row per vector).
var poolPack = true

// packRows returns the packing for rows of n windows; k = 1 means none
// (the rows fill a vector well enough alone).
func packRows(n int) rowPacking {
	if !poolPack || n > 8 || n < 1 {
		return rowPacking{k: 1}
	}
	pk := rowPacking{k: 2}
	if n <= 4 {
		pk.k = 4
	}
	pair := 4 * 4 * n // bytes of one output row's two input rows (width 2n)
	pk.kLo = uint64(1)<<(2*n) - 1
	for s := 0; s < pk.k; s++ {
		pk.kOut |= (uint64(1)<<n - 1) << (s * 16 / pk.k)
	}
	pk.kCnt = uint64(1)<<(pk.k*n) - 1
	if pk.k == 4 {
		pk.kHi = pk.kLo << 8
		pk.off1, pk.off2, pk.off3 = pair, 2*pair, 3*pair
	} else {
		pk.off2 = pair // segment 1 goes to Z1; kHi = 0 disables off1, off3
	}
	pk.inStep, pk.outStep = pk.k*pair, pk.k*n
	return pk
}

// poolByteMask selects the byte-mask kernels for planes tiled by 2x2
// windows (benchmarks compare them with the int32-index ones).
var poolByteMask = true

// poolPrefetch is how many bytes ahead of the rows they read (forward)
// or write (backward) the byte-mask kernels prefetch (measured from a
// cold cache: 2048 to 8192 alike, 0 much slower on pool2).
var poolPrefetch = 4096

// tiled2x2 says whether the layer is MAX pooling of planes tiled exactly
// by at most 16 2x2 stride-2 windows per row (LeNet's pool1 and pool2),
// which the AVX-512 kernels handle a whole block of planes at a time.
func (l *Pooling) tiled2x2() bool {
	return l.method == caffepb.PoolingParameter_MAX && l.kh == 2 && l.kw == 2 && l.sh == 2 && l.sw == 2 &&
		l.ph == 0 && l.pw == 0 && l.height == 2*l.outH && l.width == 2*l.outW && l.outW <= 16 &&
		poolAVX512 && !poolScalarOnly
}

// forwardPlanes pools planes [lo, hi).
func (l *Pooling) forwardPlanes(in, out []float32, lo, hi int) {
	planeIn, planeOut := l.height*l.width, l.outH*l.outW
	if l.plane3x3s2() && hi > lo {
		l.forward3x3s2(in, out, lo, hi)
		return
	}
	if l.tiled2x2() && hi > lo {
		// Planes tiled exactly by 2x2 windows (LeNet's pool1 and pool2)
		// follow each other row for row: one kernel call for them all.
		w, n := l.width, l.outW
		ny := (hi - lo) * l.outH
		i, o := lo*planeIn, lo*planeOut
		_ = in[hi*planeIn-1]
		_ = out[hi*planeOut-1]
		if poolByteMask {
			_ = l.bmask[hi*planeOut-1]
			y := 0
			if pk := packRows(n); pk.k > 1 {
				if groups := ny / pk.k; groups > 0 {
					maxPool2x2s2PAVX512(&in[i], w, &out[o], &l.bmask[o], int(noMaxKey),
						pk.kLo, pk.kHi, pk.kOut, pk.kCnt, pk.off1, pk.off2, pk.off3, groups, pk.inStep, pk.outStep, poolPrefetch)
					y = groups * pk.k
				}
			}
			if y < ny {
				// The rows left over by the packing, one per vector.
				i, o := i+y*2*w, o+y*n
				maxPool2x2s2BAVX512(&in[i], w, &out[o], &l.bmask[o], int(noMaxKey),
					uint64(1)<<min(16, 2*n)-1, uint64(1)<<max(0, 2*n-16)-1, uint64(1)<<n-1, ny-y, n, poolPrefetch)
			}
			return
		}
		_ = l.mask[hi*planeOut-1]
		maxPool2x2s2AVX512(&in[i], w, &out[o], &l.mask[o], 0, int(noMaxKey),
			uint64(1)<<min(16, 2*n)-1, uint64(1)<<max(0, 2*n-16)-1, uint64(1)<<n-1, ny, n, l.outH)
		return
	}
	if l.method == caffepb.PoolingParameter_MAX {
		for p := lo; p < hi; p++ {
			l.maxPlane(in[p*planeIn:(p+1)*planeIn], out[p*planeOut:(p+1)*planeOut], l.mask[p*planeOut:(p+1)*planeOut])
		}
		return
	}
	for p := lo; p < hi; p++ {
		l.avePlane(in[p*planeIn:(p+1)*planeIn], out[p*planeOut:(p+1)*planeOut])
	}
}

// poolSpan is one output row's (or column's) window along its axis:
// [lo, hi) clipped to the image, and size, Caffe's AVE divisor extent
// (the window clipped to the padded image, so padding counts as zeros).
type poolSpan struct{ lo, hi, size int }

// spans computes the windows of every output position along one axis.
func spans(dst []poolSpan, out, in, k, pad, stride int) []poolSpan {
	dst = dst[:0]
	for o := 0; o < out; o++ {
		start := o*stride - pad
		end := min(start+k, in+pad)
		lo, hi := max(start, 0), min(start+k, in)
		// With kernel < stride, Caffe's rounding can leave a last window
		// wholly outside the image; it stays empty (MAX gives -FLT_MAX and
		// AVE 0, as in Caffe) instead of slicing out of range.
		lo = min(lo, hi)
		dst = append(dst, poolSpan{lo: lo, hi: hi, size: end - start})
	}
	return dst
}

// MAX pooling compares order keys instead of floats: floatKey maps a
// float's bits to an int32 whose signed order is the floats' order, so a
// window is scanned with integer compares and conditional moves (Go's
// float max builtin is nine instructions; this is about four, and the
// 2x2 pooling of LeNet's conv1 was the largest non-gemm cost of a step).
// The rule is Caffe's: strictly greater wins, so the first maximum in
// row-major order keeps the index. Differences from comparing floats only
// concern values Caffe's compare handles arbitrarily: -0 ranks below +0,
// a NaN with the sign bit clear ranks above +Inf (so it propagates) and
// one with the sign bit set below -Inf.

// floatKey is the order key of float bits b; it is its own inverse.
func floatKey(b uint32) int32 {
	return int32(b ^ uint32(int32(b)>>31)&0x7fffffff)
}

// noMaxKey is the key of -FLT_MAX, Caffe's value for an empty window.
var noMaxKey = floatKey(math.Float32bits(-math.MaxFloat32))

// asBits views float32s as their bits (no copy).
func asBits(s []float32) []uint32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&s[0])), len(s))
}

func (l *Pooling) maxPlane(inF, outF []float32, mask []int32) {
	in, out := asBits(inF), asBits(outF)
	w := l.width
	if l.ph == 0 && l.pw == 0 && l.sh == 2 && l.sw == 2 {
		// Whole windows are those inside the image; the clipped ones at
		// the bottom and right edges (ceil rounding) go the general way.
		fullH, fullW := (l.height-l.kh)/2+1, (l.width-l.kw)/2+1
		switch {
		case l.kh == 2 && l.kw == 2 && poolAVX512 && !poolScalarOnly:
			maxPlane2x2s2Vec(in, out, mask, w, fullH, fullW, l.outW)
		case l.kh == 2 && l.kw == 2:
			maxPlane2x2s2(in, out, mask, w, fullH, fullW, l.outW)
		case l.kh == 3 && l.kw == 3 && poolAVX512 && !poolScalarOnly:
			l.maxPlane3x3s2Vec(in, out, mask)
			return
		case l.kh == 3 && l.kw == 3:
			maxPlane3x3s2(in, out, mask, w, fullH, fullW, l.outW)
		default:
			fullH, fullW = 0, 0
		}
		if fullH == l.outH && fullW == l.outW {
			return
		}
		for y, r := range l.rows {
			cols := l.cols
			if y < fullH {
				cols = cols[fullW:]
			}
			orow, mrow := out[y*l.outW:(y+1)*l.outW], mask[y*l.outW:(y+1)*l.outW]
			for x, c := range cols {
				x += l.outW - len(cols)
				orow[x], mrow[x] = maxWindow(in, w, r, c)
			}
		}
		return
	}
	for y, r := range l.rows {
		orow, mrow := out[y*l.outW:(y+1)*l.outW], mask[y*l.outW:(y+1)*l.outW]
		if r.hi-r.lo == 2 && l.kw == 2 {
			maxRow2x2(orow, mrow, in, w, r, l.cols)
		} else if r.hi-r.lo == 3 && l.kw == 3 {
			maxRow3x3(orow, mrow, in, w, r, l.cols)
		} else {
			maxRow(orow, mrow, in, w, r, l.cols)
		}
	}
}

// maxPlane2x2s2Vec is maxPlane2x2s2 with the AVX-512 kernel: up to 16
// windows (32 input columns) of every output row per call.
func maxPlane2x2s2Vec(in, out []uint32, mask []int32, w, outH, outW, outer int) {
	if outH == 0 || outW == 0 {
		return
	}
	fin := unsafe.Slice((*float32)(unsafe.Pointer(&in[0])), len(in))
	fout := unsafe.Slice((*float32)(unsafe.Pointer(&out[0])), len(out))
	ny := outH
	if outW > 16 {
		ny = 1 // a call per row and chunk
	}
	for y := 0; y < outH; y += ny {
		for x0, n := 0, 0; x0 < outW; x0 += n {
			n = min(16, outW-x0)
			i := 2*y*w + 2*x0
			// Every element the kernel reads and writes, checked up front.
			_ = in[i+2*(ny-1)*w+w+2*n-1]
			o := y*outer + x0
			_ = mask[o+(ny-1)*outer+n-1]
			_ = out[o+(ny-1)*outer+n-1]
			maxPool2x2s2AVX512(&fin[i], w, &fout[o], &mask[o], i, int(noMaxKey),
				uint64(1)<<min(16, 2*n)-1, uint64(1)<<max(0, 2*n-16)-1, uint64(1)<<n-1, ny, outer, ny)
		}
	}
}

// maxPlane2x2s2 pools the whole 2x2 stride-2 windows of one plane
// (outH×outW of them at the top left; outer is the top's row length):
// plain index arithmetic through pointers checked once, so the loop body
// is the four keys and three compares. Ties go to the earlier element in
// row-major order, as in Caffe.
func maxPlane2x2s2(in, out []uint32, mask []int32, w, outH, outW, outer int) {
	if outH == 0 || outW == 0 {
		return
	}
	_ = in[(2*outH-1)*w+2*outW-1]
	_ = out[(outH-1)*outer+outW-1]
	_ = mask[(outH-1)*outer+outW-1]
	pin, pout, pmask := unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0]), unsafe.Pointer(&mask[0])
	for y := 0; y < outH; y++ {
		base := 2 * y * w
		for x := 0; x < outW; x++ {
			i := base + 2*x
			ka := floatKey(*(*uint32)(unsafe.Add(pin, 4*i)))
			kb := floatKey(*(*uint32)(unsafe.Add(pin, 4*i+4)))
			kc := floatKey(*(*uint32)(unsafe.Add(pin, 4*(i+w))))
			kd := floatKey(*(*uint32)(unsafe.Add(pin, 4*(i+w)+4)))
			top, ia := ka, i
			if kb > ka {
				top, ia = kb, i+1
			}
			bot, ib := kc, i+w
			if kd > kc {
				bot, ib = kd, i+w+1
			}
			if bot > top {
				top, ia = bot, ib
			}
			if top <= noMaxKey {
				top, ia = noMaxKey, -1
			}
			o := 4 * (y*outer + x)
			*(*uint32)(unsafe.Add(pout, o)) = uint32(floatKey(uint32(top)))
			*(*int32)(unsafe.Add(pmask, o)) = int32(ia)
		}
	}
}

// poolScalarOnly makes max pooling skip the assembly kernels (tests
// compare the two).
var poolScalarOnly = false

// maxPlane3x3s2Vec pools a plane of 3x3 stride-2 unpadded windows with
// the AVX-512 kernel, 15 windows (31 input columns, two vector loads per
// row) per call, or all 16 of a 32-wide plane whose last window is
// clipped to two columns. Rows clipped to two input rows go through the
// kernel too; other clipped windows the general way. Planes up to 32
// columns wide take the whole-plane kernels instead (plane3x3s2) unless
// poolPlane3x3 is off.
func (l *Pooling) maxPlane3x3s2Vec(in, out []uint32, mask []int32) {
	w, outW := l.width, l.outW
	fullW := (w-3)/2 + 1
	// The kernel may take the right-edge window when it is two columns
	// wide and the 16th lane of a single call.
	vecW, clip16 := fullW, false
	if outW == fullW+1 && outW == 16 && l.cols[fullW].hi-l.cols[fullW].lo == 2 {
		vecW, clip16 = outW, true
	}
	// chunk is the window count of the call starting at x0: 15, or 16
	// when the 16th is the clipped one.
	chunk := func(x0 int) int {
		if clip16 && vecW-x0 == 16 {
			return 16
		}
		return min(15, vecW-x0)
	}
	fin := unsafe.Slice((*float32)(unsafe.Pointer(&in[0])), len(in))
	fout := unsafe.Slice((*float32)(unsafe.Pointer(&out[0])), len(out))
	// run pools output rows [y, y+ny) (each reading nr input rows) over
	// columns [x0, x0+n), all through the kernel.
	run := func(y, ny, nr, x0, n int) {
		cols := 2*n + 1
		if n == 16 {
			cols = 32 // the 16th window is the clipped one (see chunk)
		}
		i := l.rows[y].lo*w + 2*x0
		// Every element the kernel reads and writes, checked up front.
		_ = in[i+2*(ny-1)*w+(nr-1)*w+cols-1]
		o := y*outW + x0
		_ = mask[o+(ny-1)*outW+n-1]
		_ = out[o+(ny-1)*outW+n-1]
		maxPool3x3s2AVX512(&fin[i], w, &fout[o], &mask[o], i, int(noMaxKey),
			uint64(1)<<min(16, cols)-1, uint64(1)<<max(0, cols-16)-1, uint64(1)<<n-1, nr, ny, outW)
	}
	// Output rows whose windows have all three input rows form a prefix.
	y3 := 0
	for y3 < len(l.rows) && l.rows[y3].lo == 2*y3 && l.rows[y3].hi-l.rows[y3].lo == 3 {
		y3++
	}
	if chunk(0) == vecW && y3 > 0 {
		run(0, y3, 3, 0, vecW) // the whole block in one call
	} else {
		for y := 0; y < y3; y++ {
			for x0, n := 0, 0; x0 < vecW; x0 += n {
				n = chunk(x0)
				run(y, 1, 3, x0, n)
			}
		}
	}
	for y, r := range l.rows {
		orow, mrow := out[y*outW:(y+1)*outW], mask[y*outW:(y+1)*outW]
		x1 := vecW
		switch {
		case y < y3:
		case r.lo == 2*y && r.hi-r.lo == 2:
			for x0, n := 0, 0; x0 < vecW; x0 += n {
				n = chunk(x0)
				run(y, 1, 2, x0, n)
			}
		default:
			x1 = 0
		}
		for x := x1; x < outW; x++ {
			orow[x], mrow[x] = maxWindow(in, w, r, l.cols[x])
		}
	}
}

// maxPlane3x3s2 is maxPlane2x2s2 for 3x3 windows: each input row's
// triple reduced first (they are independent), then the rows, the later
// winning only when strictly greater.
func maxPlane3x3s2(in, out []uint32, mask []int32, w, outH, outW, outer int) {
	if outH == 0 || outW == 0 {
		return
	}
	_ = in[(2*outH)*w+2*outW]
	_ = out[(outH-1)*outer+outW-1]
	_ = mask[(outH-1)*outer+outW-1]
	pin, pout, pmask := unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0]), unsafe.Pointer(&mask[0])
	key := func(i int) int32 { return floatKey(*(*uint32)(unsafe.Add(pin, 4*i))) }
	for y := 0; y < outH; y++ {
		base := 2 * y * w
		for x := 0; x < outW; x++ {
			i := base + 2*x
			k0, k1, k2 := key(i), key(i+1), key(i+2)
			m0, i0 := k0, i
			if k1 > m0 {
				m0, i0 = k1, i+1
			}
			if k2 > m0 {
				m0, i0 = k2, i+2
			}
			j := i + w
			k0, k1, k2 = key(j), key(j+1), key(j+2)
			m1, i1 := k0, j
			if k1 > m1 {
				m1, i1 = k1, j+1
			}
			if k2 > m1 {
				m1, i1 = k2, j+2
			}
			j += w
			k0, k1, k2 = key(j), key(j+1), key(j+2)
			m2, i2 := k0, j
			if k1 > m2 {
				m2, i2 = k1, j+1
			}
			if k2 > m2 {
				m2, i2 = k2, j+2
			}
			if m1 > m0 {
				m0, i0 = m1, i1
			}
			if m2 > m0 {
				m0, i0 = m2, i2
			}
			if m0 <= noMaxKey {
				m0, i0 = noMaxKey, -1
			}
			o := 4 * (y*outer + x)
			*(*uint32)(unsafe.Add(pout, o)) = uint32(floatKey(uint32(m0)))
			*(*int32)(unsafe.Add(pmask, o)) = int32(i0)
		}
	}
}

// maxRow2x2 pools one output row of 2x2 windows (LeNet's): both input
// rows at once, no inner loops. Small separate functions keep every
// variable in a register.
func maxRow2x2(orow []uint32, mrow []int32, in []uint32, w int, r poolSpan, cols []poolSpan) {
	r0, r1 := in[r.lo*w:(r.lo+1)*w], in[(r.lo+1)*w:(r.lo+2)*w]
	orow = orow[:len(cols)]
	mrow = mrow[:len(cols)]
	w32 := int32(w)
	for x, c := range cols {
		if c.hi-c.lo != 2 {
			orow[x], mrow[x] = maxWindow(in, w, r, c)
			continue
		}
		// A tree (each row's pair, then the rows) rather than one chain:
		// the two pairs are independent. Later elements win only when
		// strictly greater, so the first maximum in row-major order wins.
		// (Every key exceeds noMaxKey except -FLT_MAX's own and NaNs with
		// the sign bit set, which Caffe would never pick: the window's
		// first element stands in for them, as index -1 cannot here.)
		b0 := int32(r.lo*w + c.lo)
		p0, p1 := r0[c.lo:c.lo+2:c.lo+2], r1[c.lo:c.lo+2:c.lo+2]
		ka, kb := floatKey(p0[0]), floatKey(p0[1])
		kc, kd := floatKey(p1[0]), floatKey(p1[1])
		top, ia := ka, b0
		if kb > ka {
			top, ia = kb, b0+1
		}
		bot, ib := kc, b0+w32
		if kd > kc {
			bot, ib = kd, b0+w32+1
		}
		if bot > top {
			top, ia = bot, ib
		}
		if top <= noMaxKey {
			top, ia = noMaxKey, -1
		}
		orow[x], mrow[x] = uint32(floatKey(uint32(top))), ia
	}
}

// maxRow3x3 pools one output row of 3x3 windows (CIFAR-10's), each
// window in registers as two compare chains (rows 0-1 and row 2) merged
// at the end, so the chains are short and neighbouring windows overlap.
// The second chain wins only when strictly greater: it holds the later
// elements, so the first maximum in row-major order still wins.
func maxRow3x3(orow []uint32, mrow []int32, in []uint32, w int, r poolSpan, cols []poolSpan) {
	r0, r1, r2 := in[r.lo*w:(r.lo+1)*w], in[(r.lo+1)*w:(r.lo+2)*w], in[(r.lo+2)*w:(r.lo+3)*w]
	orow = orow[:len(cols)]
	mrow = mrow[:len(cols)]
	w32 := int32(w)
	for x, c := range cols {
		if c.hi-c.lo != 3 {
			orow[x], mrow[x] = maxWindow(in, w, r, c)
			continue
		}
		i := c.lo
		b0 := int32(r.lo*w + i)
		a0, a1, a2 := r0[i:i+3:i+3], r1[i:i+3:i+3], r2[i:i+3:i+3]
		best, arg := noMaxKey, int32(-1)
		arg = pick(floatKey(a0[0]), best, b0, arg)
		best = max(best, floatKey(a0[0]))
		arg = pick(floatKey(a0[1]), best, b0+1, arg)
		best = max(best, floatKey(a0[1]))
		arg = pick(floatKey(a0[2]), best, b0+2, arg)
		best = max(best, floatKey(a0[2]))
		arg = pick(floatKey(a1[0]), best, b0+w32, arg)
		best = max(best, floatKey(a1[0]))
		arg = pick(floatKey(a1[1]), best, b0+w32+1, arg)
		best = max(best, floatKey(a1[1]))
		arg = pick(floatKey(a1[2]), best, b0+w32+2, arg)
		best = max(best, floatKey(a1[2]))
		best2, arg2 := noMaxKey, int32(-1)
		arg2 = pick(floatKey(a2[0]), best2, b0+2*w32, arg2)
		best2 = max(best2, floatKey(a2[0]))
		arg2 = pick(floatKey(a2[1]), best2, b0+2*w32+1, arg2)
		best2 = max(best2, floatKey(a2[1]))
		arg2 = pick(floatKey(a2[2]), best2, b0+2*w32+2, arg2)
		best2 = max(best2, floatKey(a2[2]))
		if best2 > best {
			best, arg = best2, arg2
		}
		orow[x], mrow[x] = uint32(floatKey(uint32(best))), arg
	}
}

// pick returns idx when k > best, else arg: a conditional move.
func pick(k, best, idx, arg int32) int32 {
	if k > best {
		return idx
	}
	return arg
}

// maxRow pools one output row of any windows. The row holds the running
// maxima (as keys until the end), updated one input row at a time, so
// each window is visited in row-major order while the compare chains of
// neighbouring windows stay short and independent.
func maxRow(orow []uint32, mrow []int32, in []uint32, w int, r poolSpan, cols []poolSpan) {
	orow = orow[:len(cols)]
	mrow = mrow[:len(cols)]
	for x := range orow {
		orow[x] = uint32(noMaxKey)
		mrow[x] = -1
	}
	for h := r.lo; h < r.hi; h++ {
		src := in[h*w : (h+1)*w]
		base := int32(h * w)
		for x, c := range cols {
			if c.hi-c.lo == 3 {
				// CIFAR-10's 3x3 windows, unrolled like maxRow2x2.
				best, arg := int32(orow[x]), mrow[x]
				s := src[c.lo : c.lo+3]
				i := base + int32(c.lo)
				if k := floatKey(s[0]); k > best {
					best, arg = k, i
				}
				if k := floatKey(s[1]); k > best {
					best, arg = k, i+1
				}
				if k := floatKey(s[2]); k > best {
					best, arg = k, i+2
				}
				orow[x], mrow[x] = uint32(best), arg
				continue
			}
			for i := c.lo; i < c.hi; i++ {
				// Unconditional stores of locals, so the compiler emits
				// conditional moves, not a branch that real data
				// mispredicts.
				k, best, arg := floatKey(src[i]), int32(orow[x]), mrow[x]
				if k > best {
					best, arg = k, base+int32(i)
				}
				orow[x], mrow[x] = uint32(best), arg
			}
		}
	}
	for x, k := range orow {
		orow[x] = uint32(floatKey(k))
	}
}

// maxWindow returns the maximum (as float bits) of one window and its
// index (h*W + w).
func maxWindow(in []uint32, w int, r, c poolSpan) (uint32, int32) {
	best, arg := noMaxKey, int32(-1)
	for h := r.lo; h < r.hi; h++ {
		base := h*w + c.lo
		for i, b := range in[base : h*w+c.hi] {
			if k := floatKey(b); k > best {
				best, arg = k, int32(base+i)
			}
		}
	}
	return uint32(floatKey(uint32(best))), arg
}
func (l *Pooling) avePlane(in, out []float32) {
	w := l.width
	if l.kh == 3 && l.kw == 3 {
		l.avePlane3x3(in, out)
		return
	}
	for y, r := range l.rows {
		orow := out[y*l.outW : (y+1)*l.outW]
		for x, c := range l.cols {
			var s float32
			for h := r.lo; h < r.hi; h++ {
				for _, v := range in[h*w+c.lo : h*w+c.hi] {
					s += v
				}
			}
			orow[x] = s / float32(r.size*c.size)
		}
	}
}

// avePlane3x3 is avePlane for 3x3 windows (CIFAR-10's pool2 and pool3):
// the whole windows add their nine elements unrolled, in the general
// loop's order (so the sums are the same bits), through a pointer
// checked once per window; clipped windows go the general way.
func (l *Pooling) avePlane3x3(in, out []float32) {
	w := l.width
	for y, r := range l.rows {
		orow := out[y*l.outW : (y+1)*l.outW]
		for x, c := range l.cols {
			if r.hi-r.lo == 3 && c.hi-c.lo == 3 {
				i := r.lo*w + c.lo
				_ = in[i+2*w+2]
				p := unsafe.Pointer(&in[i])
				at := func(o int) float32 { return *(*float32)(unsafe.Add(p, 4*o)) }
				var s float32
				s += at(0)
				s += at(1)
				s += at(2)
				s += at(w)
				s += at(w + 1)
				s += at(w + 2)
				s += at(2 * w)
				s += at(2*w + 1)
				s += at(2*w + 2)
				orow[x] = s / float32(r.size*c.size)
				continue
			}
			var s float32
			for h := r.lo; h < r.hi; h++ {
				for _, v := range in[h*w+c.lo : h*w+c.hi] {
					s += v
				}
			}
			orow[x] = s / float32(r.size*c.size)
		}
	}
}

// Backward routes each top gradient to its argmax (MAX) or spreads it
// evenly over its window (AVE).
func (l *Pooling) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	if len(propagateDown) == 0 || !propagateDown[0] {
		return
	}
	l.run(true, top[0].Diff, bottom[0].Diff)
}

// backwardPlanes writes the bottom gradient of planes [lo, hi).
func (l *Pooling) backwardPlanes(dOut, dIn []float32, lo, hi int) {
	planeIn, planeOut := l.height*l.width, l.outH*l.outW
	if l.plane3x3s2() && hi > lo {
		l.backward3x3s2(dOut, dIn, lo, hi)
		return
	}
	if l.tiled2x2() && hi > lo {
		// Every bottom element lies in exactly one window: written once,
		// no clearing pass.
		n := l.outW
		_ = dIn[hi*planeIn-1]
		_ = dOut[hi*planeOut-1]
		if poolByteMask {
			_ = l.bmask[hi*planeOut-1]
			w, ny := l.width, (hi-lo)*l.outH
			i, o := lo*planeIn, lo*planeOut
			y := 0
			if pk := packRows(n); pk.k > 1 {
				if groups := ny / pk.k; groups > 0 {
					maxUnpool2x2s2PAVX512(&dIn[i], w, &dOut[o], &l.bmask[o],
						pk.kLo, pk.kHi, pk.kOut, pk.kCnt, pk.off1, pk.off2, pk.off3, groups, pk.inStep, pk.outStep, poolPrefetch)
					y = groups * pk.k
				}
			}
			if y < ny {
				i, o := i+y*2*w, o+y*n
				maxUnpool2x2s2BAVX512(&dIn[i], w, &dOut[o], &l.bmask[o],
					uint64(1)<<min(16, 2*n)-1, uint64(1)<<max(0, 2*n-16)-1, uint64(1)<<n-1, ny-y, n, poolPrefetch)
			}
			return
		}
		_ = l.mask[hi*planeOut-1]
		maxUnpool2x2s2AVX512(&dIn[lo*planeIn], l.width, &dOut[lo*planeOut], &l.mask[lo*planeOut],
			uint64(1)<<min(16, 2*n)-1, uint64(1)<<max(0, 2*n-16)-1, uint64(1)<<n-1, (hi-lo)*l.outH, n, l.outH)
		return
	}
	clear(dIn[lo*planeIn : hi*planeIn])
	for p := lo; p < hi; p++ {
		di := dIn[p*planeIn : (p+1)*planeIn]
		do := dOut[p*planeOut : (p+1)*planeOut]
		if l.method == caffepb.PoolingParameter_MAX {
			for i, m := range l.mask[p*planeOut : (p+1)*planeOut] {
				if m >= 0 {
					di[m] += do[i]
				}
			}
			continue
		}
		for y, r := range l.rows {
			for x, c := range l.cols {
				g := do[y*l.outW+x] / float32(r.size*c.size)
				if r.hi-r.lo == 3 && c.hi-c.lo == 3 {
					// A whole 3x3 window, unrolled; same order of adds.
					i := r.lo*l.width + c.lo
					_ = di[i+2*l.width+2]
					p := unsafe.Pointer(&di[i])
					add := func(o int) { *(*float32)(unsafe.Add(p, 4*o)) += g }
					w := l.width
					add(0)
					add(1)
					add(2)
					add(w)
					add(w + 1)
					add(w + 2)
					add(2 * w)
					add(2*w + 1)
					add(2*w + 2)
					continue
				}
				for h := r.lo; h < r.hi; h++ {
					row := di[h*l.width+c.lo : h*l.width+c.hi]
					for i := range row {
						row[i] += g
					}
				}
			}
		}
	}
}
