package layers

import (
	"math"
	"os"

	"github.com/cos-project/cos/blas"
)

// Winograd convolution F(m×m, 5×5) for the 5x5, stride-1 layers with many
// channels (CIFAR-10's conv2 and conv3). im2col+gemm already runs those
// near the gemm's peak, so only fewer multiplications make them faster:
// F(4×4, 5×5) computes each 4×4 output tile from an 8×8 input tile with
// 64 products per (output, input channel) pair instead of 400.
//
// All three passes work in the transformed domain:
//
//   - forward: V = Bᵀ d B per input tile, M = V·U per point of the 8×8
//     domain (64 gemms over channels, U = G g Gᵀ the transformed weights),
//     output tile = Aᵀ M A, plus the bias;
//   - bottom gradient: the transpose of the same linear map, so the top
//     gradient's tiles are transformed once (Ŷ = A dY Aᵀ), multiplied by
//     Uᵀ per point, and the tiles B X Bᵀ added back (they overlap);
//   - weight gradient: dU = Σ Ŷᵀ·V per point (the same Ŷ and V), and
//     dW = Gᵀ dU G once per layer after the image blocks are summed.
//
// The transforms vectorise across 16 channels: images are copied into a
// channel-innermost layout (position-major, channels padded to a multiple
// of 16), so every tile element is one vector and every tile a few dozen
// FMAs per 16 channels (conv_winograd_amd64.s). The products are blas
// gemms over a group of images at once, so they are not tiny. Between the
// transforms and the gemms the tiles are not padded (c and k floats a
// tile, see inputTiles): LeNet's conv2 (20 -> 50 channels) would
// otherwise multiply and move 2x the data, as 32 -> 64.
//
// Accuracy: the points 0, ±1, ±2, ±1/2 and ∞ keep the transform
// constants small (at most 5.25 in Bᵀ, 8 in Aᵀ). Measured against the
// im2col path on unit-variance data (conv_winograd_test.go), the largest
// error of the output, bottom gradient and weight gradient is 2e-6..7e-6
// of that quantity's largest magnitude; a CIFAR-10 quick run's losses
// agree with the im2col path's to 1e-4 after 18 steps.
//
// Measured (cos-bench, CIFAR-10 quick, batch 100, 2 threads, alternating
// COS_WINOGRAD=0/1): conv2 3.1 -> 1.0 ms forward and 6.6 -> 2.0 ms
// backward, conv3 1.5 -> 0.63 and 3.5 -> 1.0 ms; the step 20.2 -> 10.2 ms.
// What is left is about 55% gemm (near the micro-kernel's peak), 45%
// transforms and layout transposes.

// convUseWinograd switches the Winograd path off (tests compare it with
// the im2col path; COS_WINOGRAD=0 in the environment does the same).
var convUseWinograd = true

// winoEnvOn is false when COS_WINOGRAD=0, for A/B timing.
var winoEnvOn = os.Getenv("COS_WINOGRAD") != "0"

// winoOutTile is m, the output tile side: 4, or 2 (F(2x2,5x5), 6x6 tiles
// through the generic kernel; tests use it). alpha = m + 4 must be <= 8.
var winoOutTile = 4

// winoMinChannels: below this many input or output channels the 16-lane
// vectors would be mostly padding and the gemms tiny.
const winoMinChannels = 16

// winoTileTarget is the number of tiles a forward task's gemms span: enough
// that a 64-point batch of gemms is not dominated by call overhead, few
// enough that the transformed tiles stay in L2.
const winoTileTarget = 64

// winoDUBudget is the bytes of weight-gradient partials (dU) a layer keeps
// per bottom: half an L2, the other half left to a group's tiles.
const winoDUBudget = 1 << 19

// winoMats are the transform matrices of one F(m, r), each row padded to
// 8 floats (the kernel reads 8 coefficients per row).
type winoMats struct {
	m, r, alpha int
	bt          []float32 // alpha×alpha: Bᵀ (input tiles)
	b           []float32 // alpha×alpha: B (bottom gradient tiles)
	at          []float32 // m×alpha: Aᵀ (output tiles)
	a           []float32 // alpha×m: A (top gradient tiles)
	g           []float32 // alpha×r: G (weights)
	gt          []float32 // r×alpha: Gᵀ (weight gradient)
}

// winoPoints are the interpolation points, the first alpha-1 used (∞ is
// the last): small magnitudes and their reciprocals keep the constants,
// and so the rounding error, small.
var winoPoints = []float64{0, 1, -1, 2, -2, 0.5, -0.5}

// newWinoMats builds Toom-Cook's matrices for F(m, r): a correlation
// y = Aᵀ[(G g) ⊙ (Bᵀ d)] with evaluation at the points (A, G) and
// Lagrange interpolation (B), the 1/Π(p_j - p_l) factors put into G.
func newWinoMats(m, r int) *winoMats {
	alpha := m + r - 1
	n := alpha - 1 // finite points
	p := winoPoints[:n]
	f64 := func(rows, cols int) [][]float64 {
		x := make([][]float64, rows)
		for i := range x {
			x[i] = make([]float64, cols)
		}
		return x
	}
	at := f64(m, alpha)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			at[i][j] = math.Pow(p[j], float64(i))
		}
	}
	at[m-1][alpha-1] = 1
	g := f64(alpha, r)
	for j := 0; j < n; j++ {
		f := 1.0
		for l := 0; l < n; l++ {
			if l != j {
				f *= p[j] - p[l]
			}
		}
		for k := 0; k < r; k++ {
			g[j][k] = math.Pow(p[j], float64(k)) / f
		}
	}
	g[alpha-1][r-1] = 1
	// Row j of Bᵀ: the coefficients of Π_{l≠j}(x - p_l); the ∞ row: those
	// of Π_l (x - p_l).
	bt := f64(alpha, alpha)
	poly := func(skip int) []float64 {
		c := []float64{1}
		for l := 0; l < n; l++ {
			if l == skip {
				continue
			}
			next := make([]float64, len(c)+1)
			for i, v := range c {
				next[i+1] += v
				next[i] -= v * p[l]
			}
			c = next
		}
		return c
	}
	for j := 0; j < alpha; j++ {
		skip := j
		if j == alpha-1 {
			skip = -1
		}
		copy(bt[j], poly(skip))
	}
	pack := func(x [][]float64, transpose bool) []float32 {
		rows, cols := len(x), len(x[0])
		if transpose {
			rows, cols = cols, rows
		}
		out := make([]float32, rows*8)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				v := 0.0
				if transpose {
					v = x[j][i]
				} else {
					v = x[i][j]
				}
				out[i*8+j] = float32(v)
			}
		}
		return out
	}
	return &winoMats{
		m: m, r: r, alpha: alpha,
		bt: pack(bt, false), b: pack(bt, true),
		at: pack(at, false), a: pack(at, true),
		g: pack(g, false), gt: pack(g, true),
	}
}

// convWinograd is Convolution's Winograd state, sized by reshape.
type convWinograd struct {
	on             bool
	mats           *winoMats
	m, alpha, pts  int
	cp, kp         int // channels and outputs padded to 16
	cq, kq         int // channels and outputs unpadded: the tiles' strides in v, mm
	du             int // floats per block of dU: [pt][k][c] and a vector of slack
	tilesY, tilesX int
	tpi            int       // tiles per image
	hp, wp         int       // padded input plane (channel-innermost)
	ht, wt         int       // tiled output plane (tilesY*m × tilesX*m)
	group          int       // images per forward task / backward sub-group
	ntask          int       // forward tasks
	blocks         int       // backward blocks
	u1             []float32 // transformed weights: [pt][cp][kp]
	wt1            []float32 // weights rearranged for the transform
	dU             []float32 // per block: [pt][k][c], du floats apart
	bPart          []float32 // per block: bias gradient partial sums
	dW             []float32 // [kp][r][r][cp]
	dWt            []float32 // dW in the weights' layout
	slots          []winoSlot
	fwd            winoFwdJob
	bwd            winoBwdJob
	wj             winoWeightJob
	rj             winoReduceJob
}

// winoSlot is one participant's scratch.
type winoSlot struct {
	pin  []float32 // padded input image, [hp][wp][cp] (zero border)
	pout []float32 // tiled output image, [ht][wt][kp]
	pdy  []float32 // tiled top gradient image, [ht][wt][kp] (zero past the valid region)
	pgr  []float32 // bottom gradient accumulator, [hp][wp][cp]
	v    []float32 // transformed input tiles of a group, [pt][tiles][c]
	mm   []float32 // transformed output / top gradient tiles, [pt][tiles][k]
	tmp  []float32 // the kernel's 8×8 vectors
}

// reshape decides whether the Winograd path applies and sizes its buffers.
func (w *convWinograd) reshape(l *Convolution) {
	g := &l.geom
	w.on = convUseWinograd && winoAVX512 && winoEnvOn && l.group == 1 &&
		l.kh == 5 && l.kw == 5 && g.StrideH == 1 && g.StrideW == 1 &&
		g.DilationH == 1 && g.DilationW == 1 &&
		l.channels >= winoMinChannels && l.numOutput >= winoMinChannels
	if !w.on {
		return
	}
	m := winoOutTile
	if w.mats == nil || w.mats.m != m {
		w.mats = newWinoMats(m, 5)
	}
	w.m, w.alpha = m, m+4
	w.pts = w.alpha * w.alpha
	w.cp = (l.channels + 15) &^ 15
	w.kp = (l.numOutput + 15) &^ 15
	w.cq, w.kq = l.channels, l.numOutput
	outH, outW := g.OutH(), g.OutW()
	w.tilesY, w.tilesX = (outH+m-1)/m, (outW+m-1)/m
	w.tpi = w.tilesY * w.tilesX
	w.ht, w.wt = w.tilesY*m, w.tilesX*m
	w.hp, w.wp = w.ht+4, w.wt+4
	w.group = max(1, min(l.num, winoTileTarget/w.tpi))
	// A multiple of 4 tasks, so two or four threads get equal shares
	// (CIFAR-10's conv3 would otherwise run 7 on two threads); fixed by
	// the shapes, not the thread count.
	w.ntask = min(l.num, ((l.num+w.group-1)/w.group+3)&^3)
	// The blocks' dU partials are the path's largest buffers (64 points
	// of k×c each): held to winoDUBudget, so they stay in cache instead
	// of streaming through memory that another executor on the next core
	// shares (LeNet's conv2, one thread per process, two processes: the
	// step 3.84 -> 3.1-3.3 ms with 2 blocks instead of 8). Still fixed by
	// the shapes, not the thread count.
	perBlock := 4 * w.pts * l.numOutput * l.channels
	w.blocks = max(1, min(convBlocks, l.num, max(2, winoDUBudget/perBlock)))
	w.u1 = growZero(w.u1, w.pts*w.cp*w.kp)
	w.wt1 = growZero(w.wt1, w.cp*25*w.kp)
	w.du = w.pts*l.numOutput*l.channels + 16
	w.dU = growF32(w.dU, w.blocks*w.du)
	w.bPart = growF32(w.bPart, w.blocks*w.kp)
	w.dW = growF32(w.dW, w.kp*25*w.cp)
	w.dWt = growF32(w.dWt, l.numOutput*l.channels*25)
	w.ensure(effectiveThreads(l.threads))
	for i := range w.slots {
		// The geometry may have moved the valid region: every float
		// outside it must read zero again.
		clear(w.slots[i].pin)
		clear(w.slots[i].pdy)
	}
}

// winoPtStride is the floats between two points' matrices of nt tiles ×
// ch channels: one vector more than they take, because a tile's 64 points
// are written (and read) at this stride, and a multiple of 4 KiB would put
// all of them in the same L1 set (measured: the input transform 4x slower).
func winoPtStride(nt, ch int) int { return nt*ch + 16 }

// growZero is growF32 with the contents cleared (padding must read zero).
func growZero(s []float32, n int) []float32 {
	s = growF32(s, n)
	clear(s)
	return s
}

// ensure gives each of parts slots its buffers.
func (w *convWinograd) ensure(parts int) {
	for len(w.slots) < parts {
		w.slots = append(w.slots, winoSlot{})
	}
	for i := range w.slots {
		s := &w.slots[i]
		// Fresh (zeroed) memory for the planes whose borders and padding
		// lanes must read zero.
		if len(s.pin) != w.hp*w.wp*w.cp {
			s.pin = make([]float32, w.hp*w.wp*w.cp)
		}
		if len(s.pdy) != w.ht*w.wt*w.kp {
			s.pdy = make([]float32, w.ht*w.wt*w.kp)
		}
		s.pgr = growF32(s.pgr, w.hp*w.wp*w.cp)
		s.pout = growF32(s.pout, w.ht*w.wt*w.kp)
		nt := w.group * w.tpi
		s.v = growF32(s.v, w.pts*winoPtStride(nt, w.cq))
		s.mm = growF32(s.mm, w.pts*winoPtStride(nt, w.kq))
		s.tmp = growF32(s.tmp, 64*16+16)
	}
}

// The transforms (see winoMats); xB adds into its destination.
const (
	xBt = iota
	xAt
	xA
	xB
	xG
	xGt
)

// winoFastKernels selects the kernels written for F(4x4,5x5)'s matrices
// over the generic one (tests compare the two).
var winoFastKernels = true

// winoFast are the F(4x4,5x5) kernels by transform kind, each with its
// constants (xG and xGt, once per step, take the generic kernel).
var winoFast = [...]struct {
	kernel func(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32)
	consts *[16]float32
}{
	xBt: {winoBtAVX512, &winoBtConsts},
	xAt: {winoAtAVX512, &winoAtConsts},
	xA:  {winoAAVX512, &winoAConsts},
	xB:  {winoBAVX512, &winoBConsts},
	xG:  {},
	xGt: {},
}

// The fast kernels' constants, in the order their code uses them.
var (
	winoBtConsts = [16]float32{5.25, -4.25, 0.25, -1.25, 0.5, -2.5, 2, 4, -5}
	winoAtConsts = [16]float32{2, 0.5, 4, 0.25, 8, 0.125}
	winoAConsts  = [16]float32{4, 2, 8, 0.25, 0.5, 0.125}
	winoBConsts  = [16]float32{0.5, 2, 5.25, 0.25, 4, -4.25, -2.5, -5.25, -1.25, -5}
)

// xform applies transform kind to nvec vectors of 16 lanes: dst = T X Tᵀ
// (xB: dst += B X Bᵀ), X's p×p elements at src + i*srs + j*scs floats,
// the result's r×r at dst + b*drs + a*dcs.
func (w *convWinograd) xform(kind int, src []float32, srs, scs int, dst []float32, drs, dcs int, nvec int, tmp []float32) {
	mt := w.mats
	var t []float32
	r, p, accum := mt.alpha, mt.alpha, 0
	switch kind {
	case xBt:
		t = mt.bt
	case xAt:
		t, r = mt.at, mt.m
	case xA:
		t, p = mt.a, mt.m
	case xB:
		t, accum = mt.b, 1
	case xG:
		t, p = mt.g, mt.r
	case xGt:
		t, r = mt.gt, mt.r
	}
	// The kernels' reach, checked here once.
	_ = src[(p-1)*(srs+scs)+nvec*16-1]
	_ = dst[(r-1)*(drs+dcs)+nvec*16-1]
	_ = tmp[64*16-1]
	if f := winoFast[kind]; winoFastKernels && mt.m == 4 && mt.r == 5 && f.kernel != nil {
		f.kernel(&src[0], 4*srs, 4*scs, &dst[0], 4*drs, 4*dcs, nvec, &tmp[0], &f.consts[0])
		return
	}
	winoXformAVX512(&src[0], 4*srs, 4*scs, &dst[0], 4*drs, 4*dcs, &t[0], p, r, nvec, accum, &tmp[0])
}

// transformWeights computes U (u1) from the current weights. The weights
// are first transposed (16×16 blocks in registers) so the transform's
// lanes run over output channels; the transforms are spread over the pool
// (run serially they measured 4% of the layers' time). The bottom gradient
// multiplies by the same u1, transposed in its gemm, so Backward uses the
// weights of the last Forward (Caffe's order: Forward, Backward, then the
// update; the im2col path reads the weights again, which is the same
// thing then): a second transformed copy laid out the other way would be
// another 0.5 MiB (LeNet's conv2) of working set per step.
func (w *convWinograd) transformWeights(l *Convolution, parts int) {
	c, k := l.channels, l.numOutput
	// W as k rows of c*25 -> wt1[c][ky][kx][kp]
	wd := l.params[0].Data[:k*c*25]
	for o0 := 0; o0 < k; o0 += 16 {
		for j0 := 0; j0 < c*25; j0 += 16 {
			winoTransposeAVX512(&wd[o0*c*25+j0], 4*c*25, &w.wt1[j0*w.kp+o0], 4*w.kp,
				min(16, k-o0), min(16, c*25-j0), &winoZeros[0])
		}
	}
	w.wj = winoWeightJob{l: l, tasks: min(4, c)}
	runParallel(&w.wj, parts, w.wj.tasks)
	w.wj.l = nil
}

// winoWeightJob transforms the weights, a task per range of input channels.
type winoWeightJob struct {
	l     *Convolution
	tasks int
}

func (j *winoWeightJob) runTask(slot, t int) {
	l := j.l
	w := &l.wg
	c := l.channels
	tmp := w.slots[slot].tmp
	ps := w.cp * w.kp
	// wt1[c][ky][kx][kp] -> u1[pt][c][kp]
	for ci := t * c / j.tasks; ci < (t+1)*c/j.tasks; ci++ {
		w.xform(xG, w.wt1[ci*25*w.kp:], 5*w.kp, w.kp, w.u1[ci*w.kp:], w.alpha*ps, ps, w.kp/16, tmp)
	}
}

// forward runs the Winograd forward pass when it applies.
func (w *convWinograd) forward(l *Convolution, bottom, top []*Blob) bool {
	if !w.on {
		return false
	}
	parts := effectiveThreads(l.threads)
	w.ensure(parts)
	w.transformWeights(l, parts)
	for i, b := range bottom {
		w.fwd = winoFwdJob{l: l, in: b.Data, out: top[i].Data}
		runParallel(&w.fwd, parts, w.ntask)
	}
	w.fwd = winoFwdJob{}
	return true
}

// winoFwdJob is one bottom's forward pass, a task per group of images.
type winoFwdJob struct {
	l       *Convolution
	in, out []float32
}

func (j *winoFwdJob) runTask(slot, t int) {
	l := j.l
	w := &l.wg
	s := &w.slots[slot]
	// Near-equal groups (none larger than w.group), so no task is a
	// short remainder that leaves a thread idle.
	n0, n1 := t*l.num/w.ntask, (t+1)*l.num/w.ntask
	nt := (n1 - n0) * w.tpi
	w.inputTiles(l, j.in, n0, n1, s)
	// Per point: M[pt] (tiles×kp) = V[pt] (tiles×cp) · U1[pt] (cp×kp).
	// Unpadded: U1's leading cq×kq corner only, so LeNet's 20 -> 50
	// channels multiply 0.49x the padded 32 -> 64's products and move
	// that much less of V and M.
	vs, ms, us := winoPtStride(nt, w.cq), winoPtStride(nt, w.kq), w.cp*w.kp
	for pt := 0; pt < w.pts; pt++ {
		blas.Sgemm(false, false, nt, w.kq, w.cq, 1, s.v[pt*vs:pt*vs+nt*w.cq], w.cq,
			w.u1[pt*us:pt*us+(w.cq-1)*w.kp+w.kq], w.kp, 0, s.mm[pt*ms:pt*ms+nt*w.kq], w.kq)
	}
	var bias []float32
	if l.biasTerm {
		bias = l.params[1].Data[:l.numOutput]
	}
	m, a := w.m, w.alpha
	outH, outW := l.geom.OutH(), l.geom.OutW()
	for n := n0; n < n1; n++ {
		ti := (n - n0) * w.tpi
		for ty := 0; ty < w.tilesY; ty++ {
			for tx := 0; tx < w.tilesX; tx++ {
				w.xform(xAt, s.mm[ti*w.kq:], a*ms, ms,
					s.pout[(ty*m*w.wt+tx*m)*w.kp:], w.wt*w.kp, w.kp, w.kp/16, s.tmp)
				ti++
			}
		}
		out := j.out[n*l.outDim : (n+1)*l.outDim]
		unpackCHW(s.pout, out, l.numOutput, outH, outW, w.wt, w.kp, 0, 0, bias)
	}
}

// inputTiles writes V[pt][tile][c] for images [n0, n1).
//
// Tiles are cq floats apart but the kernel writes cp lanes each: the
// lanes past cq (transforms of the plane's zero padding channels) land on
// the next tile's channels, which that tile overwrites after, so the tiles
// must be written in order; the last one's spill fits the point's slack
// (winoPtStride). Reading M at the kq stride (xAt, xB) likewise fills the
// padding lanes with the next tile's values, which nothing reads.
func (w *convWinograd) inputTiles(l *Convolution, in []float32, n0, n1 int, s *winoSlot) {
	nt := (n1 - n0) * w.tpi
	vs := winoPtStride(nt, w.cq)
	m, a := w.m, w.alpha
	h, wd := l.geom.Height, l.geom.Width
	for n := n0; n < n1; n++ {
		packHWC(in[n*l.inDim:(n+1)*l.inDim], s.pin, l.channels, h, wd, w.wp, w.cp, l.ph, l.pw)
		ti := (n - n0) * w.tpi
		for ty := 0; ty < w.tilesY; ty++ {
			for tx := 0; tx < w.tilesX; tx++ {
				w.xform(xBt, s.pin[(ty*m*w.wp+tx*m)*w.cp:], w.wp*w.cp, w.cp,
					s.v[ti*w.cq:], a*vs, vs, w.cp/16, s.tmp)
				ti++
			}
		}
	}
}

// packHWC copies the c×h×w image into the channel-innermost plane p (wp
// positions a row, cp floats a position) at offset (py, px), in 16×16
// blocks transposed in registers.
func packHWC(in, p []float32, c, h, w, wp, cp, py, px int) {
	_ = in[c*h*w-1]
	_ = p[((h-1+py)*wp+px+w-1)*cp+c-1]
	for y := 0; y < h; y++ {
		for c0 := 0; c0 < c; c0 += 16 {
			for x0 := 0; x0 < w; x0 += 16 {
				winoTransposeAVX512(&in[(c0*h+y)*w+x0], 4*h*w, &p[((y+py)*wp+px+x0)*cp+c0], 4*cp,
					min(16, c-c0), min(16, w-x0), &winoZeros[0])
			}
		}
	}
}

// winoZeros is the bias of transposes that add none.
var winoZeros [16]float32

// unpackCHW copies the h×w region at (py, px) of the channel-innermost
// plane p into the c×h×w image out, adding bias[c] when bias is not nil.
func unpackCHW(p, out []float32, c, h, w, wp, cp, py, px int, bias []float32) {
	_ = out[c*h*w-1]
	_ = p[((h-1+py)*wp+px+w-1)*cp+c-1]
	for y := 0; y < h; y++ {
		for c0 := 0; c0 < c; c0 += 16 {
			b := &winoZeros[0]
			if bias != nil {
				b = &bias[c0] // read only for the channels written
			}
			for x0 := 0; x0 < w; x0 += 16 {
				winoTransposeAVX512(&p[((y+py)*wp+px+x0)*cp+c0], 4*cp, &out[(c0*h+y)*w+x0], 4*h*w,
					min(16, w-x0), min(16, c-c0), b)
			}
		}
	}
}

// backward runs the Winograd backward pass when it applies.
func (w *convWinograd) backward(l *Convolution, top []*Blob, propagateDown []bool, bottom []*Blob) bool {
	if !w.on {
		return false
	}
	parts := effectiveThreads(l.threads)
	w.ensure(parts)
	for i, b := range bottom {
		w.bwd = winoBwdJob{l: l, topDiff: top[i].Diff, in: b.Data}
		if i < len(propagateDown) && propagateDown[i] {
			w.bwd.inDiff = b.Diff
		}
		runParallel(&w.bwd, parts, w.blocks)
		w.reduce(l, parts)
	}
	w.bwd = winoBwdJob{}
	return true
}

// winoBwdJob is one bottom's backward pass, a task per block of images
// (convBlocks, fixed: each block's dU is its own, summed in block order).
type winoBwdJob struct {
	l                   *Convolution
	topDiff, in, inDiff []float32
}

func (j *winoBwdJob) runTask(slot, blk int) {
	l := j.l
	w := &l.wg
	s := &w.slots[slot]
	m, a := w.m, w.alpha
	du := w.dU[blk*w.du : blk*w.du+w.pts*w.kq*w.cq]
	clear(du)
	bd := w.bPart[blk*w.kp : blk*w.kp+l.numOutput]
	clear(bd)
	lo, hi := blk*l.num/w.blocks, (blk+1)*l.num/w.blocks
	outH, outW := l.geom.OutH(), l.geom.OutW()
	h, wd := l.geom.Height, l.geom.Width
	us, ds := w.kp*w.cp, w.kq*w.cq
	ng := (hi - lo + w.group - 1) / w.group
	for g := 0; g < ng; g++ {
		// Near-equal sub-groups: no short remainder with tiny gemms.
		n0, n1 := lo+g*(hi-lo)/ng, lo+(g+1)*(hi-lo)/ng
		nt := (n1 - n0) * w.tpi
		ms, vs := winoPtStride(nt, w.kq), winoPtStride(nt, w.cq)
		// Ŷ[pt][tile][kp] = A dY Aᵀ per tile.
		for n := n0; n < n1; n++ {
			dOut := j.topDiff[n*l.outDim : (n+1)*l.outDim]
			for o := range bd {
				bd[o] += sum32(dOut[o*l.outSpatial : (o+1)*l.outSpatial])
			}
			packHWC(dOut, s.pdy, l.numOutput, outH, outW, w.wt, w.kp, 0, 0)
			ti := (n - n0) * w.tpi
			for ty := 0; ty < w.tilesY; ty++ {
				for tx := 0; tx < w.tilesX; tx++ {
					w.xform(xA, s.pdy[(ty*m*w.wt+tx*m)*w.kp:], w.wt*w.kp, w.kp,
						s.mm[ti*w.kq:], a*ms, ms, w.kp/16, s.tmp)
					ti++
				}
			}
		}
		w.inputTiles(l, j.in, n0, n1, s)
		// Per point, dU[pt] (k×c) += Ŷ[pt]ᵀ · V[pt], then X̂[pt] (tiles×c)
		// = Ŷ[pt] · U1[pt]ᵀ into V[pt] (done with it): both gemms in one
		// pass over the points, so the second reads Ŷ[pt] from L1/L2 and
		// not, a whole Ŷ (0.8 MiB for LeNet's conv2) later, from L3.
		for pt := 0; pt < w.pts; pt++ {
			yp, vp := s.mm[pt*ms:pt*ms+nt*w.kq], s.v[pt*vs:pt*vs+nt*w.cq]
			blas.Gemm(true, false, w.kq, w.cq, nt, 1, yp, vp, 1, du[pt*ds:(pt+1)*ds])
			if j.inDiff != nil {
				blas.Sgemm(false, true, nt, w.cq, w.kq, 1, yp, w.kq,
					w.u1[pt*us:pt*us+(w.cq-1)*w.kp+w.kq], w.kp, 0, vp, w.cq)
			}
		}
		if j.inDiff == nil {
			continue
		}
		for n := n0; n < n1; n++ {
			clear(s.pgr)
			ti := (n - n0) * w.tpi
			for ty := 0; ty < w.tilesY; ty++ {
				for tx := 0; tx < w.tilesX; tx++ {
					w.xform(xB, s.v[ti*w.cq:], a*vs, vs,
						s.pgr[(ty*m*w.wp+tx*m)*w.cp:], w.wp*w.cp, w.cp, w.cp/16, s.tmp)
					ti++
				}
			}
			unpackCHW(s.pgr, j.inDiff[n*l.inDim:(n+1)*l.inDim], l.channels, h, wd, w.wp, w.cp, l.ph, l.pw, nil)
		}
	}
}

// reduce adds the blocks' transformed weight gradients in block order,
// transforms the sum back (dW = Gᵀ dU G) and adds it and the bias
// gradient into the param diffs.
func (w *convWinograd) reduce(l *Convolution, parts int) {
	// Two passes: the transform of the last output of a task's range reads
	// past it into the next range (unpadded dU), which must be summed by then.
	w.rj = winoReduceJob{l: l, tasks: min(4, l.numOutput)}
	runParallel(&w.rj, parts, w.rj.tasks)
	w.rj.transform = true
	runParallel(&w.rj, parts, w.rj.tasks)
	w.rj.l = nil
	if l.biasTerm {
		bd := l.params[1].Diff[:l.numOutput]
		for k := 0; k < w.blocks; k++ {
			addTo(bd, w.bPart[k*w.kp:k*w.kp+l.numOutput])
		}
	}
}

// winoReduceJob is reduce's weight part, a task per range of output
// channels (each one's sums still added in block order).
type winoReduceJob struct {
	l         *Convolution
	tasks     int
	transform bool // second pass: the sums are complete
}

func (j *winoReduceJob) runTask(slot, t int) {
	l := j.l
	w := &l.wg
	o0, o1 := t*l.numOutput/j.tasks, (t+1)*l.numOutput/j.tasks
	// dU[pt][o] is c floats: the transform's cp lanes read past it into
	// the next output's (or, for the last, the block's slack), lanes the
	// transpose below leaves out.
	n, ps := w.du, w.kq*w.cq
	total := w.dU[:n]
	for pt := 0; pt < w.pts && !j.transform; pt++ {
		lo, hi := pt*ps+o0*w.cq, pt*ps+o1*w.cq
		for k := 1; k < w.blocks; k++ {
			addTo(total[lo:hi], w.dU[k*n+lo:k*n+hi])
		}
	}
	if !j.transform {
		return
	}
	tmp := w.slots[slot].tmp
	c := l.channels
	for o := o0; o < o1; o++ {
		w.xform(xGt, total[o*w.cq:], w.alpha*ps, ps, w.dW[o*25*w.cp:], 5*w.cp, w.cp, w.cp/16, tmp)
		// dW[o][ky][kx][cp] transposed back to the weights' [o][c][ky][kx].
		for t0 := 0; t0 < 25; t0 += 16 {
			for c0 := 0; c0 < c; c0 += 16 {
				winoTransposeAVX512(&w.dW[(o*25+t0)*w.cp+c0], 4*w.cp, &w.dWt[(o*c+c0)*25+t0], 4*25,
					min(16, 25-t0), min(16, c-c0), &winoZeros[0])
			}
		}
	}
	addTo(l.params[0].Diff[o0*c*25:o1*c*25], w.dWt[o0*c*25:o1*c*25])
}
