package blas

// kernelSet is one dispatch path: the register-tiled micro-kernels and
// level-1 loops for an instruction set, plus the tile shape they assume.
type kernelSet struct {
	name  string
	mr    int // rows of the C tile (broadcast from A)
	nr    int // columns of the C tile (vector loads of B)
	lanes int // float32 lanes per vector register (level-1 granularity)

	// kern computes one mr×nr tile:
	// C[r][0:nr] = alpha*Σ_p A(r,p)*B(p,0:nr) + beta*C[r][0:nr], where
	// A(r,p) = a[p*sa + r] and B(p,j) = b[p*sb + j] (sa, sb, ldc in bytes).
	// beta == 0 never reads C.
	kern kernFn
	// kernR is kern with A read row-wise: A(r,p) = a[r*sa + p], so a
	// row-major A needs no packing. Nil if the set has none.
	kernR kernFn
	// kt, when set, holds masked kernels for partial tiles:
	// kt[v-1][rowA][rows] computes a rows×(16v) tile whose columns are
	// enabled by the mask bits, so edges need neither packing nor scratch.
	kt *[2][2][13]kernFn
	// rows, when set, holds unmasked kernels for every row count of a
	// full-width tile, rows[rowA][mr], so M edges need no packing.
	rows *[2][7]kernFn
	// packBT, when set, packs one nr-column panel of a transposed B
	// (dst[p*nr+c] = b[c*ldb+p], columns enabled by mask).
	packBT func(kc int, b *float32, ldb int, dst *float32, mask uint64)
	// transBT, when set, packs 16 full columns of a Bᵀ panel (16-row
	// halves of nr = 32) by in-register 16×16 transposes, nblk blocks of 16
	// along K; faster than packBT's gathers, which then do only the edges.
	transBT func(nblk int, b *float32, ldb uintptr, dst *float32)
	// dt, when set, holds the A·Bᵀ dot-product tile kernels, dt[ma][nb]
	// for ma ≤ dm rows of A by nb ≤ 4 rows of B.
	dt *[5][5]dotFn
	dm int

	peak      func(n int) // register-only FMA loop, peakFlops per iteration
	peakFlops int

	axpy func(n int, alpha float32, x, y *float32)
	dot1 func(n int, x, y *float32) float32
	scal func(n int, alpha float32, x *float32)

	// Cache blocking: kc floats of K per packed panel, mc rows of A per
	// packed block (kept in L2), nc columns of B per packed block.
	kc, mc, nc int

	// mode overrides the pack/direct choice (tests and tuning): 0 decides
	// by shape, modePack always packs, modeDirect reads operands in place
	// wherever the layout allows.
	mode int
}

const (
	modeAuto = iota
	modePack
	modeDirect
)

// kernFn computes one C tile; see kernelSet.kern. mask enables C columns
// (bit j = column j) for the masked kernels and is ignored by the others.
type kernFn func(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, mask uint64)

// dotFn computes C[i][j] = alpha*Σ_p A_i[p]*B_j[p] + beta*C[i][j] for a
// small tile, A rows at a+i*lda and B rows at b+j*ldb (bytes), the last
// partial vector of K loaded under kmask.
type dotFn func(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)

// scratch holds one goroutine's packing buffers; grown on demand and kept,
// so a warmed-up training step does not allocate.
type scratch struct {
	ap, bp []float32
	tmp    []float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func ptr(s []float32, i int) *float32 { return &s[i] }

// gemmArgs is one sgemm call, or the part of one that a worker computes.
type gemmArgs struct {
	tA, tB      bool
	m, n, k     int
	alpha, beta float32
	a, b, c     []float32
	lda, ldb    int
	ldc         int
}

// sub returns the rows [i0,i1) and columns [j0,j1) of the call's C.
func (g *gemmArgs) sub(i0, i1, j0, j1 int) gemmArgs {
	s := *g
	s.m, s.n = i1-i0, j1-j0
	if i0 > 0 {
		if g.tA {
			s.a = g.a[i0:]
		} else {
			s.a = g.a[i0*g.lda:]
		}
	}
	if j0 > 0 {
		if g.tB {
			s.b = g.b[j0*g.ldb:]
		} else {
			s.b = g.b[j0:]
		}
	}
	s.c = g.c[i0*g.ldc+j0:]
	return s
}

// scaleC sets C = beta*C (beta == 0 overwrites, so NaN garbage goes away).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// dotMinK is the K from which the dot path beats transposing Bᵀ into
// panels: below it the per-tile horizontal reductions cost more than the
// pack (measured on LeNet's A·Bᵀ shapes).
var dotMinK = 128

// useDot says whether the A·Bᵀ dot-product path beats packing: both
// operands are contiguous along K, and K is long enough that the per-tile
// horizontal reductions are amortised.
func (ks *kernelSet) useDot(g *gemmArgs) bool {
	return ks.dt != nil && !g.tA && g.tB && g.k >= dotMinK && ks.mode != modePack
}

// serial computes one (sub-)gemm on the calling goroutine.
func (ks *kernelSet) serial(s *scratch, g *gemmArgs) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 || g.alpha == 0 {
		scaleC(g.m, g.n, g.beta, g.c, g.ldc)
		return
	}
	if ks.useDot(g) {
		ks.dotGemm(s, g)
		return
	}
	ks.blocked(s, g)
}

// blocked is the packed, cache-blocked outer-product driver. Operands whose
// layout the micro-kernel can read directly (Aᵀ stored K×M, B stored K×N, or
// a row-major A through kernR) are not packed when the problem is small
// enough that packing would not be repaid by reuse.
func (ks *kernelSet) blocked(s *scratch, g *gemmArgs) {
	mr, nr := ks.mr, ks.nr
	m, n, k := g.m, g.n, g.k
	kcMax, mcMax, ncMax := ks.kc, ks.mc, ks.nc
	// Direct operands: B is reused by m/mr tiles, A by n/nr tiles; pack
	// only when that reuse is large.
	directB := !g.tB && m <= 4*mcMax
	directA := (g.tA || ks.kernR != nil) && n <= 2*nr*8
	switch ks.mode {
	case modePack:
		directA, directB = false, false
	case modeDirect:
		directA, directB = g.tA || ks.kernR != nil, !g.tB
	}
	masked := ks.kt != nil
	if !directA {
		s.ap = grow(s.ap, (min(mcMax, m)+mr)*min(kcMax, k))
	} else if !masked && ks.rows == nil {
		s.ap = grow(s.ap, mr*min(kcMax, k))
	}
	if !directB {
		s.bp = grow(s.bp, (min(ncMax, n)+nr)*min(kcMax, k))
	} else if !masked {
		s.bp = grow(s.bp, nr*min(kcMax, k))
	}
	s.tmp = grow(s.tmp, mr*nr)
	ldcB := uintptr(g.ldc * 4)
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			if !directB {
				ks.packB(g, pc, kc, jc, nc, s.bp)
			}
			for ic := 0; ic < m; ic += mcMax {
				mc := min(mcMax, m-ic)
				if !directA {
					packA(g, ic, mc, pc, kc, mr, s.ap)
				}
				for jr := 0; jr < nc; jr += nr {
					nre := min(nr, nc-jr)
					var bptr *float32
					var sb uintptr
					switch {
					case !directB:
						bptr, sb = ptr(s.bp, jr*kc), uintptr(nr*4)
					case nre == nr || masked:
						bptr, sb = ptr(g.b, pc*g.ldb+jc+jr), uintptr(g.ldb*4)
					default:
						ks.packB(g, pc, kc, jc+jr, nre, s.bp)
						bptr, sb = ptr(s.bp, 0), uintptr(nr*4)
					}
					if masked {
						v := 1
						if nre > 16 {
							v = 2
						}
						mask := uint64(1)<<nre - 1
						even := directA && balanceRows && shortLastTile(mc, mr)
						for ir, mre := 0, 0; ir < mc; ir += mre {
							mre = min(mr, mc-ir)
							if even {
								mre = rowTile(mc-ir, mr)
							}
							ci := ptr(g.c, (ic+ir)*g.ldc+jc+jr)
							switch {
							case !directA:
								ks.kt[v-1][0][mre](kc, ptr(s.ap, ir*kc), bptr, ci, uintptr(mr*4), sb, ldcB, g.alpha, beta, mask)
							case g.tA:
								ks.kt[v-1][0][mre](kc, ptr(g.a, pc*g.lda+ic+ir), bptr, ci, uintptr(g.lda*4), sb, ldcB, g.alpha, beta, mask)
							default:
								ks.kt[v-1][1][mre](kc, ptr(g.a, (ic+ir)*g.lda+pc), bptr, ci, uintptr(g.lda*4), sb, ldcB, g.alpha, beta, mask)
							}
						}
						continue
					}
					for ir := 0; ir < mc; ir += mr {
						mre := min(mr, mc-ir)
						kern := ks.kern
						// With per-row-count kernels a short tile reads
						// only its own rows, so direct A needs no edge pack.
						if mre < mr && ks.rows != nil {
							kern = ks.rows[0][mre]
						}
						var aptr *float32
						var sa uintptr
						switch {
						case !directA:
							aptr, sa = ptr(s.ap, ir*kc), uintptr(mr*4)
						case mre < mr && ks.rows == nil:
							packA(g, ic+ir, mre, pc, kc, mr, s.ap)
							aptr, sa = ptr(s.ap, 0), uintptr(mr*4)
						case g.tA:
							aptr, sa = ptr(g.a, pc*g.lda+ic+ir), uintptr(g.lda*4)
						default:
							kern = ks.kernR
							if mre < mr {
								kern = ks.rows[1][mre]
							}
							aptr, sa = ptr(g.a, (ic+ir)*g.lda+pc), uintptr(g.lda*4)
						}
						ci := (ic+ir)*g.ldc + jc + jr
						if nre == nr && (mre == mr || ks.rows != nil) {
							kern(kc, aptr, bptr, ptr(g.c, ci), sa, sb, ldcB, g.alpha, beta, 0)
							continue
						}
						kern(kc, aptr, bptr, ptr(s.tmp, 0), sa, sb, uintptr(nr*4), g.alpha, 0, 0)
						for r := 0; r < mre; r++ {
							crow := g.c[ci+r*g.ldc : ci+r*g.ldc+nre]
							trow := s.tmp[r*nr : r*nr+nre]
							if beta == 0 {
								copy(crow, trow)
							} else {
								for j, v := range trow {
									crow[j] = beta*crow[j] + v
								}
							}
						}
					}
				}
			}
		}
	}
}

// balanceRows enables rowTile (tests and benchmarks turn it off).
var balanceRows = true

// shortLastTile says whether splitting m rows into tiles of mr leaves a
// short last tile (fewer than mr/2 rows; LeNet's conv2: 50 = 4×12 + 2).
// Such a tile has too few independent accumulators to hide the FMA
// latency and costs about what a 10-row one does, so the driver then
// spreads the rows evenly with rowTile (measured: conv2's forward and
// weight-gradient gemms 3% faster). A last tile of at least mr/2 rows is
// left alone: evening out 32 = 12+12+8 into 11+11+10 measured 2% slower.
func shortLastTile(m, mr int) bool {
	r := m % mr
	return m > mr && r != 0 && r < mr/2
}

// rowTile is the height of the next tile when rem rows are left, spread
// evenly over the fewest tiles of at most mr rows.
func rowTile(rem, mr int) int {
	t := (rem + mr - 1) / mr
	return (rem + t - 1) / t
}

// packA copies A[i0:i0+mc, p0:p0+kc] into panels of mr rows, each stored
// k-major (mr consecutive floats per k), zero-padding the last panel.
func packA(g *gemmArgs, i0, mc, p0, kc, mr int, dst []float32) {
	a, lda := g.a, g.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		mre := min(mr, mc-ir)
		if g.tA {
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ir:]
				d := panel[p*mr : p*mr+mr]
				copy(d[:mre], src[:mre])
				clear(d[mre:])
			}
			continue
		}
		for r := 0; r < mre; r++ {
			src := a[(i0+ir+r)*lda+p0 : (i0+ir+r)*lda+p0+kc]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
		for r := mre; r < mr; r++ {
			for p := 0; p < kc; p++ {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies B[p0:p0+kc, j0:j0+nc] into panels of nr columns, each stored
// k-major (nr consecutive floats per k), zero-padding the last panel.
func (ks *kernelSet) packB(g *gemmArgs, p0, kc, j0, nc int, dst []float32) {
	b, ldb, nr := g.b, g.ldb, ks.nr
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : jr*kc+nr*kc]
		nre := min(nr, nc-jr)
		if !g.tB {
			for p := 0; p < kc; p++ {
				src := b[(p0+p)*ldb+j0+jr:]
				d := panel[p*nr : p*nr+nr]
				copy(d[:nre], src[:nre])
				clear(d[nre:])
			}
			continue
		}
		if ks.packBT != nil && int64(ldb)*int64(nr) < 1<<31 {
			// The assembly reads only the enabled rows; bounds-check the last.
			_ = b[(j0+jr+nre-1)*ldb+p0+kc-1]
			done := 0
			if ks.transBT != nil && nre == nr && kc >= 16 {
				nblk := kc / 16
				for h := 0; h < nr; h += 16 {
					ks.transBT(nblk, &b[(j0+jr+h)*ldb+p0], uintptr(ldb*4), &panel[h])
				}
				done = nblk * 16
			}
			if done < kc {
				ks.packBT(kc-done, &b[(j0+jr)*ldb+p0+done], ldb, &panel[done*nr], uint64(1)<<nre-1)
			}
			continue
		}
		for c := 0; c < nre; c++ {
			src := b[(j0+jr+c)*ldb+p0 : (j0+jr+c)*ldb+p0+kc]
			for p, v := range src {
				panel[p*nr+c] = v
			}
		}
		for c := nre; c < nr; c++ {
			for p := 0; p < kc; p++ {
				panel[p*nr+c] = 0
			}
		}
	}
}

// dotGemm computes C = alpha*A·Bᵀ + beta*C for row-major A (m×k) and B
// (n×k) with the dot-product tile kernels: no packing, since both operands
// are already contiguous along K. B rows are blocked so a block stays in L2
// while every A row passes over it.
func (ks *kernelSet) dotGemm(s *scratch, g *gemmArgs) {
	m, n, k := g.m, g.n, g.k
	lda, ldb, ldc := uintptr(g.lda*4), uintptr(g.ldb*4), uintptr(g.ldc*4)
	// K is cut into chunks so one A tile (dm×kc) stays in L1 while it
	// meets every B tile of the block, and the B block (jb×kc) in L2.
	const kcDot = 1024
	// Equal chunks (multiples of 16) rather than kcDot plus a short tail:
	// every chunk pays the horizontal reductions once.
	chunks := (k + kcDot - 1) / kcDot
	kcStep := ((k+chunks-1)/chunks + 15) &^ 15
	jb := max(4, (256*1024/(4*min(k, kcStep)))&^3)
	for p0 := 0; p0 < k; p0 += kcStep {
		kc := min(kcStep, k-p0)
		kmask := uint64(1)<<(kc&(ks.lanes-1)) - 1
		beta := g.beta
		if p0 > 0 {
			beta = 1
		}
		for j0 := 0; j0 < n; j0 += jb {
			j1 := min(n, j0+jb)
			for i := 0; i < m; i += ks.dm {
				ma := min(ks.dm, m-i)
				ap := ptr(g.a, i*g.lda+p0)
				for j := j0; j < j1; j += 4 {
					nb := min(4, j1-j)
					ks.dt[ma][nb](kc, ap, lda, ptr(g.b, j*g.ldb+p0), ldb, ptr(g.c, i*g.ldc+j), ldc, g.alpha, beta, kmask)
				}
			}
		}
	}
}
