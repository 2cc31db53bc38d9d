// Command asmgen writes blas/kernel_amd64.s: the register-tiled sgemm
// micro-kernels (AVX-512 and AVX2+FMA), the dot-product tile kernel used for
// A·Bᵀ with long K, and the FMA-peak loop. The kernels are generated rather
// than hand-written because their bodies are long unrolled repetitions of one
// pattern and the tile shape is a tuning knob.
//
// Run from blas/: go run ./internal/asmgen > kernel_amd64.s
package main

import (
	"fmt"
	"go/format"
	"os"
	"strings"
)

var w strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }

// outer emits an MR×(V·L) outer-product micro-kernel. reg is the vector
// register prefix ("Z" or "Y"), L the float32 lanes per register.
//
// func name(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32)
// C[r][0:V·L] = alpha*Σ_p a[p*sa+r]*b[p*sb+0:V·L] + beta*C (beta==0: C not read).
// sa, sb and ldc are in bytes.
func outer(name string, mr, v int, reg string, lanes int, rowA bool) {
	nacc := mr * v
	bReg := func(j int) string { return fmt.Sprintf("%s%d", reg, nacc+j) }
	bc := func(i int) string { return fmt.Sprintf("%s%d", reg, nacc+v+(i%2)) }
	if reg == "Y" {
		// 16 registers only: one broadcast register.
		bc = func(int) string { return fmt.Sprintf("%s%d", reg, nacc+v) }
	}
	acc := func(r, j int) string { return fmt.Sprintf("%s%d", reg, r*v+j) }
	vb := lanes * 4
	p("// func %s(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, mask uint64)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), AX")
	p("\tMOVQ b+16(FP), BX")
	p("\tMOVQ c+24(FP), DI")
	p("\tMOVQ sa+32(FP), R8")
	p("\tMOVQ sb+40(FP), R9")
	p("\tMOVQ ldc+48(FP), R10")
	// Row-wise A: row r lives at AX + r*sa for r < 6 and SI + (r-6)*sa
	// above, using scaled-index addressing with R11 = sa, R12 = 3sa, R13 = 5sa.
	aAddr := func(r int) string { return fmt.Sprintf("%d(AX)", r*4) }
	if rowA {
		p("\tMOVQ R8, R11")
		p("\tLEAQ (R8)(R8*2), R12")
		p("\tLEAQ (R8)(R8*4), R13")
		p("\tLEAQ (AX)(R12*2), SI")
		pat := []string{"(%s)", "(%s)(R11*1)", "(%s)(R11*2)", "(%s)(R12*1)", "(%s)(R11*4)", "(%s)(R13*1)"}
		aAddr = func(r int) string {
			base := "AX"
			if r >= 6 {
				base = "SI"
			}
			return fmt.Sprintf(pat[r%6], base)
		}
	}
	for i := 0; i < nacc; i++ {
		if reg == "Z" {
			p("\tVPXORD %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		} else {
			p("\tVXORPS %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		}
	}
	step := func() {
		for j := 0; j < v; j++ {
			p("\tVMOVUPS %d(BX), %s", j*vb, bReg(j))
		}
		for r := 0; r < mr; r++ {
			p("\tVBROADCASTSS %s, %s", aAddr(r), bc(r))
			for j := 0; j < v; j++ {
				p("\tVFMADD231PS %s, %s, %s", bReg(j), bc(r), acc(r, j))
			}
		}
		if rowA {
			p("\tADDQ $4, AX")
			if mr > 6 {
				p("\tADDQ $4, SI")
			}
		} else {
			p("\tADDQ R8, AX")
		}
		p("\tADDQ R9, BX")
	}
	// Main loop unrolled by 4, then a one-step tail loop.
	p("\tMOVQ CX, DX")
	p("\tSHRQ $2, DX")
	p("\tANDQ $3, CX")
	p("\tTESTQ DX, DX")
	p("\tJEQ %s_tail", name)
	p("%s_loop4:", name)
	for u := 0; u < 4; u++ {
		step()
	}
	p("\tDECQ DX")
	p("\tJNE %s_loop4", name)
	p("%s_tail:", name)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop1:", name)
	step()
	p("\tDECQ CX")
	p("\tJNE %s_loop1", name)
	p("%s_store:", name)
	al := bReg(0)
	be := bReg(1)
	if v < 2 {
		al, be = bReg(0), bc(0)
	}
	p("\tVBROADCASTSS alpha+56(FP), %s", al)
	p("\tVBROADCASTSS beta+60(FP), %s", be)
	// beta == ±0 means C is write-only (it may hold NaN garbage).
	p("\tMOVL beta+60(FP), DX")
	p("\tSHLL $1, DX")
	p("\tJEQ %s_beta0", name)
	for r := 0; r < mr; r++ {
		for j := 0; j < v; j++ {
			p("\tVMULPS %s, %s, %s", al, acc(r, j), acc(r, j))
			p("\tVFMADD231PS %d(DI), %s, %s", j*vb, be, acc(r, j))
			p("\tVMOVUPS %s, %d(DI)", acc(r, j), j*vb)
		}
		p("\tADDQ R10, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_beta0:", name)
	for r := 0; r < mr; r++ {
		for j := 0; j < v; j++ {
			p("\tVMULPS %s, %s, %s", al, acc(r, j), acc(r, j))
			p("\tVMOVUPS %s, %d(DI)", acc(r, j), j*vb)
		}
		p("\tADDQ R10, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dot4x4 emits the A·Bᵀ tile kernel: out[i*4+j] = Σ_{p<k} a_i[p]*b_j[p] for
// four rows of A and four rows of B, k a multiple of the vector width (the
// caller does the tail). The four A rows are a0 + i*lda, the B rows b0 + j*ldb
// (byte strides); callers clamp the strides' targets by passing duplicate rows.
//
// func name(k int, a0 *float32, lda uintptr, b0 *float32, ldb uintptr, out *[16]float32)
func dot4x4(name, reg string, lanes int) {
	vb := lanes * 4
	p("// func %s(k int, a *float32, lda uintptr, b *float32, ldb uintptr, out *[16]float32)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-48", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), AX")
	p("\tMOVQ lda+16(FP), R8")
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), R9")
	p("\tMOVQ out+40(FP), DI")
	// Row pointers: A rows AX, SI, DX, R10; B rows BX, R11, R12, R13.
	p("\tLEAQ (AX)(R8*1), SI")
	p("\tLEAQ (AX)(R8*2), DX")
	p("\tLEAQ (SI)(R8*2), R10")
	p("\tLEAQ (BX)(R9*1), R11")
	p("\tLEAQ (BX)(R9*2), R12")
	p("\tLEAQ (R11)(R9*2), R13")
	arows := []string{"AX", "SI", "DX", "R10"}
	brows := []string{"BX", "R11", "R12", "R13"}
	for i := 0; i < 16; i++ {
		if reg == "Z" {
			p("\tVPXORD %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		} else {
			p("\tVXORPS %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		}
	}
	p("\tXORQ R8, R8")
	p("\tSHLQ $2, CX")
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_reduce", name)
	p("%s_loop:", name)
	if reg == "Z" {
		for j := 0; j < 4; j++ {
			p("\tVMOVUPS (%s)(R8*1), %s%d", brows[j], reg, 16+j)
		}
		for i := 0; i < 4; i++ {
			p("\tVMOVUPS (%s)(R8*1), %s%d", arows[i], reg, 20+i)
			for j := 0; j < 4; j++ {
				p("\tVFMADD231PS %s%d, %s%d, %s%d", reg, 16+j, reg, 20+i, reg, i*4+j)
			}
		}
	} else {
		// 16 accumulators fill every ymm register: use memory operands.
		// Two passes would need reloading, so AVX2 uses the B rows from memory.
		panic("dot4x4: AVX2 not supported")
	}
	p("\tADDQ $%d, R8", vb)
	p("\tCMPQ R8, CX")
	p("\tJLT %s_loop", name)
	p("%s_reduce:", name)
	// Fold each 512-bit accumulator to 128 bits, then combine 4 at a time
	// with horizontal adds into the 4 sums of one output row.
	for i := 0; i < 16; i++ {
		p("\tVEXTRACTF64X4 $1, Z%d, Y24", i)
		p("\tVADDPS Y24, Y%d, Y%d", i, i)
		p("\tVEXTRACTF32X4 $1, Y%d, X25", i)
		p("\tVADDPS X25, X%d, X%d", i, i)
	}
	for i := 0; i < 4; i++ {
		a, b, c, d := i*4, i*4+1, i*4+2, i*4+3
		p("\tVHADDPS X%d, X%d, X%d", b, a, a)
		p("\tVHADDPS X%d, X%d, X%d", d, c, c)
		p("\tVHADDPS X%d, X%d, X%d", c, a, a)
		p("\tVMOVUPS X%d, %d(DI)", a, i*16)
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// fmaPeak emits a register-only FMA loop: n iterations of 24 independent
// FMAs (enough chains to cover latency on 2 pipes), for the peak benchmark.
func fmaPeak(name, reg string, nacc int) {
	p("// func %s(n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-8", name)
	p("\tMOVQ n+0(FP), CX")
	if reg == "Z" {
		p("\tVPXORD Z30, Z30, Z30")
		p("\tVPXORD Z31, Z31, Z31")
	} else {
		p("\tVXORPS Y14, Y14, Y14")
		p("\tVXORPS Y15, Y15, Y15")
	}
	s1, s2 := reg+"30", reg+"31"
	if reg == "Y" {
		s1, s2 = "Y14", "Y15"
	}
	for i := 0; i < nacc; i++ {
		if reg == "Z" {
			p("\tVPXORD %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		} else {
			p("\tVXORPS %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		}
	}
	p("%s_loop:", name)
	for i := 0; i < nacc; i++ {
		p("\tVFMADD231PS %s, %s, %s%d", s1, s2, reg, i)
	}
	p("\tDECQ CX")
	p("\tJNE %s_loop", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// level1 emits axpy, scal and dot over n floats, n a multiple of the lane
// count (the Go caller does the tail). Four registers per iteration hide FMA
// latency; a single-register loop finishes the remainder.
func level1(suffix, reg string, lanes int) {
	vb := lanes * 4
	blk := 4 * vb
	zero := func(r string) {
		if reg == "Z" {
			p("\tVPXORD %s, %s, %s", r, r, r)
		} else {
			p("\tVXORPS %s, %s, %s", r, r, r)
		}
	}
	al := reg + "15"
	// axpy: y += alpha*x
	p("// func axpy%s(n int, alpha float32, x, y *float32)", suffix)
	p("TEXT ·axpy%s(SB), NOSPLIT, $0-32", suffix)
	p("\tMOVQ n+0(FP), CX")
	p("\tVBROADCASTSS alpha+8(FP), %s", al)
	p("\tMOVQ x+16(FP), SI")
	p("\tMOVQ y+24(FP), DI")
	p("\tXORQ AX, AX")
	p("\tSHLQ $2, CX")
	p("\tMOVQ CX, DX")
	p("\tANDQ $-%d, DX", blk)
	p("axpy%s_blk:", suffix)
	p("\tCMPQ AX, DX")
	p("\tJGE axpy%s_one", suffix)
	for j := 0; j < 4; j++ {
		p("\tVMOVUPS %d(SI)(AX*1), %s%d", j*vb, reg, j)
	}
	for j := 0; j < 4; j++ {
		p("\tVFMADD213PS %d(DI)(AX*1), %s, %s%d", j*vb, al, reg, j)
	}
	for j := 0; j < 4; j++ {
		p("\tVMOVUPS %s%d, %d(DI)(AX*1)", reg, j, j*vb)
	}
	p("\tADDQ $%d, AX", blk)
	p("\tJMP axpy%s_blk", suffix)
	p("axpy%s_one:", suffix)
	p("\tCMPQ AX, CX")
	p("\tJGE axpy%s_done", suffix)
	p("\tVMOVUPS (SI)(AX*1), %s0", reg)
	p("\tVFMADD213PS (DI)(AX*1), %s, %s0", al, reg)
	p("\tVMOVUPS %s0, (DI)(AX*1)", reg)
	p("\tADDQ $%d, AX", vb)
	p("\tJMP axpy%s_one", suffix)
	p("axpy%s_done:", suffix)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
	// scal: x *= alpha
	p("// func scal%s(n int, alpha float32, x *float32)", suffix)
	p("TEXT ·scal%s(SB), NOSPLIT, $0-24", suffix)
	p("\tMOVQ n+0(FP), CX")
	p("\tVBROADCASTSS alpha+8(FP), %s", al)
	p("\tMOVQ x+16(FP), SI")
	p("\tXORQ AX, AX")
	p("\tSHLQ $2, CX")
	p("\tMOVQ CX, DX")
	p("\tANDQ $-%d, DX", blk)
	p("scal%s_blk:", suffix)
	p("\tCMPQ AX, DX")
	p("\tJGE scal%s_one", suffix)
	for j := 0; j < 4; j++ {
		p("\tVMULPS %d(SI)(AX*1), %s, %s%d", j*vb, al, reg, j)
	}
	for j := 0; j < 4; j++ {
		p("\tVMOVUPS %s%d, %d(SI)(AX*1)", reg, j, j*vb)
	}
	p("\tADDQ $%d, AX", blk)
	p("\tJMP scal%s_blk", suffix)
	p("scal%s_one:", suffix)
	p("\tCMPQ AX, CX")
	p("\tJGE scal%s_done", suffix)
	p("\tVMULPS (SI)(AX*1), %s, %s0", al, reg)
	p("\tVMOVUPS %s0, (SI)(AX*1)", reg)
	p("\tADDQ $%d, AX", vb)
	p("\tJMP scal%s_one", suffix)
	p("scal%s_done:", suffix)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
	// dot
	p("// func dot%s(n int, x, y *float32) float32", suffix)
	p("TEXT ·dot%s(SB), NOSPLIT, $0-28", suffix)
	p("\tMOVQ n+0(FP), CX")
	p("\tMOVQ x+8(FP), SI")
	p("\tMOVQ y+16(FP), DI")
	for j := 0; j < 4; j++ {
		zero(fmt.Sprintf("%s%d", reg, j))
	}
	p("\tXORQ AX, AX")
	p("\tSHLQ $2, CX")
	p("\tMOVQ CX, DX")
	p("\tANDQ $-%d, DX", blk)
	p("dot%s_blk:", suffix)
	p("\tCMPQ AX, DX")
	p("\tJGE dot%s_one", suffix)
	for j := 0; j < 4; j++ {
		p("\tVMOVUPS %d(SI)(AX*1), %s%d", j*vb, reg, 4+j)
	}
	for j := 0; j < 4; j++ {
		p("\tVFMADD231PS %d(DI)(AX*1), %s%d, %s%d", j*vb, reg, 4+j, reg, j)
	}
	p("\tADDQ $%d, AX", blk)
	p("\tJMP dot%s_blk", suffix)
	p("dot%s_one:", suffix)
	p("\tCMPQ AX, CX")
	p("\tJGE dot%s_red", suffix)
	p("\tVMOVUPS (SI)(AX*1), %s4", reg)
	p("\tVFMADD231PS (DI)(AX*1), %s4, %s0", reg, reg)
	p("\tADDQ $%d, AX", vb)
	p("\tJMP dot%s_one", suffix)
	p("dot%s_red:", suffix)
	p("\tVADDPS %s1, %s0, %s0", reg, reg, reg)
	p("\tVADDPS %s3, %s2, %s2", reg, reg, reg)
	p("\tVADDPS %s2, %s0, %s0", reg, reg, reg)
	if reg == "Z" {
		p("\tVEXTRACTF64X4 $1, Z0, Y1")
		p("\tVADDPS Y1, Y0, Y0")
	}
	p("\tVEXTRACTF128 $1, Y0, X1")
	p("\tVADDPS X1, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVHADDPS X0, X0, X0")
	p("\tVZEROUPPER")
	p("\tMOVSS X0, ret+24(FP)")
	p("\tRET")
	p("")
}

// outer512 emits a masked AVX-512 micro-kernel for an mr×(16v) tile:
// columns beyond the tile edge are masked off (mask bit j = column j), so
// B is loaded with zeroing masks (never faulting past the end of a
// row) and C is loaded and stored under the same masks. Rows are chosen by
// generating one kernel per mr, so partial tiles need no scratch copy.
//
// func name(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, mask uint64)
func outer512(name string, mr, v int, rowA bool) {
	acc := func(r, j int) string { return fmt.Sprintf("Z%d", r*v+j) }
	bReg := func(j int) string { return fmt.Sprintf("Z%d", 24+j) }
	bc := func(i int) string { return fmt.Sprintf("Z%d", 26+i%2) }
	kreg := func(j int) string { return fmt.Sprintf("K%d", 1+j) }
	p("// func %s(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, mask uint64)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), AX")
	p("\tMOVQ b+16(FP), BX")
	p("\tMOVQ c+24(FP), DI")
	p("\tMOVQ sa+32(FP), R8")
	p("\tMOVQ sb+40(FP), R9")
	p("\tMOVQ ldc+48(FP), R10")
	p("\tMOVQ mask+64(FP), DX")
	p("\tKMOVW DX, K1")
	if v > 1 {
		p("\tSHRQ $16, DX")
		p("\tKMOVW DX, K2")
	}
	aAddr := func(r int) string { return fmt.Sprintf("%d(AX)", r*4) }
	if rowA {
		p("\tMOVQ R8, R11")
		p("\tLEAQ (R8)(R8*2), R12")
		p("\tLEAQ (R8)(R8*4), R13")
		p("\tLEAQ (AX)(R12*2), SI")
		pat := []string{"(%s)", "(%s)(R11*1)", "(%s)(R11*2)", "(%s)(R12*1)", "(%s)(R11*4)", "(%s)(R13*1)"}
		aAddr = func(r int) string {
			base := "AX"
			if r >= 6 {
				base = "SI"
			}
			return fmt.Sprintf(pat[r%6], base)
		}
	}
	for r := 0; r < mr; r++ {
		for j := 0; j < v; j++ {
			p("\tVPXORD %s, %s, %s", acc(r, j), acc(r, j), acc(r, j))
		}
	}
	step := func() {
		for j := 0; j < v; j++ {
			p("\tVMOVUPS.Z %d(BX), %s, %s", j*64, kreg(j), bReg(j))
		}
		for r := 0; r < mr; r++ {
			p("\tVBROADCASTSS %s, %s", aAddr(r), bc(r))
			for j := 0; j < v; j++ {
				p("\tVFMADD231PS %s, %s, %s", bReg(j), bc(r), acc(r, j))
			}
		}
		if rowA {
			p("\tADDQ $4, AX")
			if mr > 6 {
				p("\tADDQ $4, SI")
			}
		} else {
			p("\tADDQ R8, AX")
		}
		p("\tADDQ R9, BX")
	}
	p("\tMOVQ CX, DX")
	p("\tSHRQ $2, DX")
	p("\tANDQ $3, CX")
	p("\tTESTQ DX, DX")
	p("\tJEQ %s_tail", name)
	p("%s_loop4:", name)
	for u := 0; u < 4; u++ {
		step()
	}
	p("\tDECQ DX")
	p("\tJNE %s_loop4", name)
	p("%s_tail:", name)
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_store", name)
	p("%s_loop1:", name)
	step()
	p("\tDECQ CX")
	p("\tJNE %s_loop1", name)
	p("%s_store:", name)
	p("\tVBROADCASTSS alpha+56(FP), Z28")
	p("\tVBROADCASTSS beta+60(FP), Z29")
	p("\tMOVL beta+60(FP), DX")
	p("\tSHLL $1, DX")
	p("\tJEQ %s_beta0", name)
	for r := 0; r < mr; r++ {
		for j := 0; j < v; j++ {
			p("\tVMULPS Z28, %s, %s", acc(r, j), acc(r, j))
			p("\tVFMADD231PS %d(DI), Z29, %s, %s", j*64, kreg(j), acc(r, j))
			p("\tVMOVUPS %s, %s, %d(DI)", acc(r, j), kreg(j), j*64)
		}
		p("\tADDQ R10, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_beta0:", name)
	for r := 0; r < mr; r++ {
		for j := 0; j < v; j++ {
			p("\tVMULPS Z28, %s, %s", acc(r, j), acc(r, j))
			p("\tVMOVUPS %s, %s, %d(DI)", acc(r, j), kreg(j), j*64)
		}
		p("\tADDQ R10, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dot512 emits the A·Bᵀ tile kernel for ma rows of A and nb rows of B
// (both contiguous along K): C[i][j] = alpha*Σ_p A_i[p]*B_j[p] + beta*C[i][j].
// Full 16-float vectors run in the loop, the K tail under kmask.
//
// func name(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)
func dot512(name string, ma, nb int) {
	p("// func %s(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), AX")
	p("\tMOVQ lda+16(FP), R8")
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), R9")
	p("\tMOVQ kmask+64(FP), DX")
	p("\tKMOVW DX, K1")
	p("\tLEAQ (AX)(R8*1), SI")
	p("\tLEAQ (AX)(R8*2), DX")
	p("\tLEAQ (SI)(R8*2), R10")
	p("\tLEAQ (BX)(R9*1), R11")
	p("\tLEAQ (BX)(R9*2), R12")
	p("\tLEAQ (R11)(R9*2), R13")
	arows := []string{"AX", "SI", "DX", "R10"}
	brows := []string{"BX", "R11", "R12", "R13"}
	for i := 0; i < 16; i++ {
		p("\tVPXORD Z%d, Z%d, Z%d", i, i, i)
	}
	p("\tXORQ R8, R8")
	p("\tSHRQ $4, CX")
	p("\tSHLQ $6, CX")
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_tail", name)
	body := func(mask string) {
		for j := 0; j < nb; j++ {
			p("\tVMOVUPS%s (%s)(R8*1), %sZ%d", mask, brows[j], map[bool]string{true: "K1, ", false: ""}[mask != ""], 16+j)
		}
		for i := 0; i < ma; i++ {
			p("\tVMOVUPS%s (%s)(R8*1), %sZ%d", mask, arows[i], map[bool]string{true: "K1, ", false: ""}[mask != ""], 20+i)
			for j := 0; j < nb; j++ {
				p("\tVFMADD231PS Z%d, Z%d, Z%d", 16+j, 20+i, i*4+j)
			}
		}
	}
	p("%s_loop:", name)
	body("")
	p("\tADDQ $64, R8")
	p("\tCMPQ R8, CX")
	p("\tJLT %s_loop", name)
	p("%s_tail:", name)
	p("\tKORTESTW K1, K1")
	p("\tJEQ %s_reduce", name)
	body(".Z")
	p("%s_reduce:", name)
	if ma == 4 && nb == 4 {
		dot512Tree(name)
		return
	}
	for i := 0; i < ma; i++ {
		for j := 0; j < nb; j++ {
			a := i*4 + j
			p("\tVEXTRACTF64X4 $1, Z%d, Y24", a)
			p("\tVADDPS Y24, Y%d, Y%d", a, a)
			p("\tVEXTRACTF32X4 $1, Y%d, X25", a)
			p("\tVADDPS X25, X%d, X%d", a, a)
		}
	}
	p("\tMOVQ c+40(FP), DI")
	p("\tMOVQ ldc+48(FP), R9")
	p("\tVBROADCASTSS alpha+56(FP), X28")
	p("\tVBROADCASTSS beta+60(FP), X29")
	p("\tMOVL $%d, DX", (1<<nb)-1)
	p("\tKMOVW DX, K2")
	p("\tMOVL beta+60(FP), DX")
	p("\tSHLL $1, DX")
	for i := 0; i < ma; i++ {
		a, b, c, d := i*4, i*4+1, i*4+2, i*4+3
		p("\tVHADDPS X%d, X%d, X%d", b, a, a)
		p("\tVHADDPS X%d, X%d, X%d", d, c, c)
		p("\tVHADDPS X%d, X%d, X%d", c, a, a)
		p("\tVMULPS X28, X%d, X%d", a, a)
		p("\tTESTL DX, DX")
		p("\tJEQ %s_b0_%d", name, i)
		p("\tVFMADD231PS (DI), X29, K2, X%d", a)
		p("%s_b0_%d:", name, i)
		p("\tVMOVUPS X%d, K2, (DI)", a)
		p("\tADDQ R9, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// packBT512 emits the transposing B pack for op(B) = Bᵀ: one 32-column
// panel, dst[p*32+c] = b[c*ldb+p] for p < kc and the columns c enabled in
// mask (others zero), by two 16-lane gathers per k (a scalar transpose
// costs more than the gemm on LeNet's small-K shapes).
//
// func packBT512(kc int, b *float32, ldb int, dst *float32, mask uint64)
func packBT512() {
	p("DATA iota16<>+0(SB)/4, $0")
	for i := 1; i < 16; i++ {
		p("DATA iota16<>+%d(SB)/4, $%d", i*4, i)
	}
	p("GLOBL iota16<>(SB), RODATA|NOPTR, $64")
	p("")
	p("// func packBT512(kc int, b *float32, ldb int, dst *float32, mask uint64)")
	p("TEXT ·packBT512(SB), NOSPLIT, $0-40")
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ b+8(FP), AX")
	p("\tVPBROADCASTD ldb+16(FP), Z29")
	p("\tMOVQ dst+24(FP), DI")
	p("\tMOVQ mask+32(FP), R8")
	p("\tMOVQ R8, R9")
	p("\tSHRQ $16, R9")
	p("\tVPMULLD iota16<>(SB), Z29, Z30")
	p("\tVPSLLD $4, Z29, Z28")
	p("\tVPADDD Z28, Z30, Z31")
	p("\tTESTQ CX, CX")
	p("\tJEQ packBT512_done")
	p("packBT512_loop:")
	p("\tKMOVW R8, K1")
	p("\tKMOVW R9, K2")
	p("\tVPXORD Z0, Z0, Z0")
	p("\tVPXORD Z1, Z1, Z1")
	p("\tVGATHERDPS (AX)(Z30*4), K1, Z0")
	p("\tVGATHERDPS (AX)(Z31*4), K2, Z1")
	p("\tVMOVUPS Z0, (DI)")
	p("\tVMOVUPS Z1, 64(DI)")
	p("\tADDQ $4, AX")
	p("\tADDQ $128, DI")
	p("\tDECQ CX")
	p("\tJNE packBT512_loop")
	p("packBT512_done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// packBT256 is packBT512 for AVX2: a 16-column panel by two 8-lane
// gathers per k; lane masks are built from the mask bits.
//
// func packBT256(kc int, b *float32, ldb int, dst *float32, mask uint64)
func packBT256() {
	for i := 0; i < 8; i++ {
		p("DATA bits8<>+%d(SB)/4, $%d", i*4, 1<<i)
	}
	p("GLOBL bits8<>(SB), RODATA|NOPTR, $32")
	p("")
	p("// func packBT256(kc int, b *float32, ldb int, dst *float32, mask uint64)")
	p("TEXT ·packBT256(SB), NOSPLIT, $0-40")
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ b+8(FP), AX")
	p("\tVPBROADCASTD ldb+16(FP), Y9")
	p("\tMOVQ dst+24(FP), DI")
	// Index vectors Y10 = iota*ldb, Y11 = (iota+8)*ldb.
	p("\tVPMULLD iota16<>(SB), Y9, Y10")
	p("\tVPSLLD $3, Y9, Y8")
	p("\tVPADDD Y8, Y10, Y11")
	// Lane masks Y12 (columns 0-7), Y13 (8-15) from the mask bits.
	p("\tVMOVDQU bits8<>(SB), Y7")
	p("\tVPBROADCASTD mask+32(FP), Y6")
	p("\tVPAND Y7, Y6, Y5")
	p("\tVPCMPEQD Y7, Y5, Y12")
	p("\tVPSRLD $8, Y6, Y6")
	p("\tVPAND Y7, Y6, Y5")
	p("\tVPCMPEQD Y7, Y5, Y13")
	p("\tTESTQ CX, CX")
	p("\tJEQ packBT256_done")
	p("packBT256_loop:")
	p("\tVMOVDQU Y12, Y2")
	p("\tVMOVDQU Y13, Y3")
	p("\tVXORPS Y0, Y0, Y0")
	p("\tVXORPS Y1, Y1, Y1")
	p("\tVGATHERDPS Y2, (AX)(Y10*4), Y0")
	p("\tVGATHERDPS Y3, (AX)(Y11*4), Y1")
	p("\tVMOVUPS Y0, (DI)")
	p("\tVMOVUPS Y1, 32(DI)")
	p("\tADDQ $4, AX")
	p("\tADDQ $64, DI")
	p("\tDECQ CX")
	p("\tJNE packBT256_loop")
	p("packBT256_done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dot256 is dot512 for AVX2: ma ≤ 2 rows of A by nb ≤ 4 rows of B, the K
// tail and the C columns handled with VMASKMOVPS lane masks.
//
// func name(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)
func dot256(name string, ma, nb int) {
	p("// func %s(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-72", name)
	p("\tMOVQ k+0(FP), CX")
	p("\tMOVQ a+8(FP), AX")
	p("\tMOVQ lda+16(FP), R8")
	p("\tMOVQ b+24(FP), BX")
	p("\tMOVQ ldb+32(FP), R9")
	p("\tLEAQ (AX)(R8*1), SI")
	p("\tLEAQ (BX)(R9*1), R11")
	p("\tLEAQ (BX)(R9*2), R12")
	p("\tLEAQ (R11)(R9*2), R13")
	arows := []string{"AX", "SI"}
	brows := []string{"BX", "R11", "R12", "R13"}
	for i := 0; i < 8; i++ {
		p("\tVXORPS Y%d, Y%d, Y%d", i, i, i)
	}
	// K-tail lane mask from the kmask bits.
	p("\tVPBROADCASTD kmask+64(FP), Y13")
	p("\tVPAND bits8<>(SB), Y13, Y13")
	p("\tVPCMPEQD bits8<>(SB), Y13, Y13")
	p("\tXORQ R8, R8")
	p("\tSHRQ $3, CX")
	p("\tSHLQ $5, CX")
	p("\tTESTQ CX, CX")
	p("\tJEQ %s_tail", name)
	body := func(masked bool) {
		for j := 0; j < nb; j++ {
			if masked {
				p("\tVMASKMOVPS (%s)(R8*1), Y13, Y%d", brows[j], 8+j)
			} else {
				p("\tVMOVUPS (%s)(R8*1), Y%d", brows[j], 8+j)
			}
		}
		for i := 0; i < ma; i++ {
			if masked {
				p("\tVMASKMOVPS (%s)(R8*1), Y13, Y12", arows[i])
			} else {
				p("\tVMOVUPS (%s)(R8*1), Y12", arows[i])
			}
			for j := 0; j < nb; j++ {
				p("\tVFMADD231PS Y%d, Y12, Y%d", 8+j, i*4+j)
			}
		}
	}
	p("%s_loop:", name)
	body(false)
	p("\tADDQ $32, R8")
	p("\tCMPQ R8, CX")
	p("\tJLT %s_loop", name)
	p("%s_tail:", name)
	p("\tMOVQ kmask+64(FP), DX")
	p("\tTESTQ DX, DX")
	p("\tJEQ %s_reduce", name)
	body(true)
	p("%s_reduce:", name)
	for i := 0; i < ma; i++ {
		for j := 0; j < nb; j++ {
			a := i*4 + j
			p("\tVEXTRACTF128 $1, Y%d, X14", a)
			p("\tVADDPS X14, X%d, X%d", a, a)
		}
	}
	p("\tMOVQ c+40(FP), DI")
	p("\tMOVQ ldc+48(FP), R9")
	// C column mask: lanes j < nb.
	p("\tMOVL $%d, DX", nb)
	p("\tVMOVD DX, X15")
	p("\tVPBROADCASTD X15, X15")
	p("\tVMOVDQU iota16<>(SB), X14")
	p("\tVPCMPGTD X14, X15, X15")
	p("\tVBROADCASTSS alpha+56(FP), X14")
	p("\tVBROADCASTSS beta+60(FP), X13")
	p("\tMOVL beta+60(FP), DX")
	p("\tSHLL $1, DX")
	for i := 0; i < ma; i++ {
		a, b, c, d := i*4, i*4+1, i*4+2, i*4+3
		p("\tVHADDPS X%d, X%d, X%d", b, a, a)
		p("\tVHADDPS X%d, X%d, X%d", d, c, c)
		p("\tVHADDPS X%d, X%d, X%d", c, a, a)
		p("\tVMULPS X14, X%d, X%d", a, a)
		p("\tTESTL DX, DX")
		p("\tJEQ %s_b0_%d", name, i)
		p("\tVMASKMOVPS (DI), X15, X12")
		p("\tVFMADD231PS X12, X13, X%d", a)
		p("%s_b0_%d:", name, i)
		p("\tVMASKMOVPS X%d, X15, (DI)", a)
		p("\tADDQ R9, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// transBT512 emits the in-register transposing pack for op(B) = Bᵀ: 16
// rows of B (16 columns of op(B)) by nblk blocks of 16 along K, each block
// transposed with the 4-stage unpack/shuffle network (64 shuffles per 256
// floats) and stored as 16 k-rows of a 32-wide panel. A gather per k costs
// about 4 times more.
//
// func transBT512(nblk int, b *float32, ldb uintptr, dst *float32)
func transBT512() {
	p("// func transBT512(nblk int, b *float32, ldb uintptr, dst *float32)")
	p("TEXT ·transBT512(SB), NOSPLIT, $0-32")
	p("\tMOVQ nblk+0(FP), CX")
	p("\tMOVQ b+8(FP), AX")
	p("\tMOVQ ldb+16(FP), R11")
	p("\tMOVQ dst+24(FP), DI")
	p("\tLEAQ (R11)(R11*2), R12")
	p("\tLEAQ (R11)(R11*4), R13")
	p("\tLEAQ (AX)(R12*2), SI")
	p("\tLEAQ (SI)(R12*2), DX")
	p("\tTESTQ CX, CX")
	p("\tJEQ transBT512_done")
	pat := []string{"(%s)", "(%s)(R11*1)", "(%s)(R11*2)", "(%s)(R12*1)", "(%s)(R11*4)", "(%s)(R13*1)"}
	bases := []string{"AX", "SI", "DX"}
	p("transBT512_loop:")
	for r := 0; r < 16; r++ {
		p("\tVMOVUPS "+pat[r%6]+", Z%d", bases[r/6], r)
	}
	// Stage 1: interleave row pairs.
	for q := 0; q < 4; q++ {
		a, b, c, d := 4*q, 4*q+1, 4*q+2, 4*q+3
		p("\tVUNPCKLPS Z%d, Z%d, Z%d", b, a, 16+a)
		p("\tVUNPCKHPS Z%d, Z%d, Z%d", b, a, 16+b)
		p("\tVUNPCKLPS Z%d, Z%d, Z%d", d, c, 16+c)
		p("\tVUNPCKHPS Z%d, Z%d, Z%d", d, c, 16+d)
	}
	// Stage 2: 4×4 within 128-bit lanes.
	for q := 0; q < 4; q++ {
		t0, t1, t2, t3 := 16+4*q, 16+4*q+1, 16+4*q+2, 16+4*q+3
		p("\tVSHUFPS $0x44, Z%d, Z%d, Z%d", t2, t0, 4*q)
		p("\tVSHUFPS $0xEE, Z%d, Z%d, Z%d", t2, t0, 4*q+1)
		p("\tVSHUFPS $0x44, Z%d, Z%d, Z%d", t3, t1, 4*q+2)
		p("\tVSHUFPS $0xEE, Z%d, Z%d, Z%d", t3, t1, 4*q+3)
	}
	// Stages 3 and 4: 128-bit lanes across registers.
	for i := 0; i < 4; i++ {
		p("\tVSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 4+i, i, 16+i)
		p("\tVSHUFF32X4 $0xDD, Z%d, Z%d, Z%d", 4+i, i, 20+i)
		p("\tVSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 12+i, 8+i, 24+i)
		p("\tVSHUFF32X4 $0xDD, Z%d, Z%d, Z%d", 12+i, 8+i, 28+i)
	}
	for i := 0; i < 8; i++ {
		p("\tVSHUFF32X4 $0x88, Z%d, Z%d, Z%d", 24+i, 16+i, i)
		p("\tVSHUFF32X4 $0xDD, Z%d, Z%d, Z%d", 24+i, 16+i, 8+i)
	}
	for r := 0; r < 16; r++ {
		p("\tVMOVUPS Z%d, %d(DI)", r, r*128)
	}
	p("\tADDQ $64, AX")
	p("\tADDQ $64, SI")
	p("\tADDQ $64, DX")
	p("\tADDQ $2048, DI")
	p("\tDECQ CX")
	p("\tJNE transBT512_loop")
	p("transBT512_done:")
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// dot512Tree finishes the full 4×4 dot tile: a shuffle tree folds the 16
// accumulators into one register whose 128-bit chunk i holds row i of the
// tile (45 operations instead of 76 for separate horizontal sums), then
// stores the four rows.
func dot512Tree(name string) {
	// 512 -> 256: S(2j) = acc(0,j)|acc(1,j), S(2j+1) = acc(2,j)|acc(3,j).
	for j := 0; j < 4; j++ {
		for h, pr := range [][2]int{{j, 4 + j}, {8 + j, 12 + j}} {
			p("\tVSHUFF32X4 $0x44, Z%d, Z%d, Z24", pr[1], pr[0])
			p("\tVSHUFF32X4 $0xEE, Z%d, Z%d, Z25", pr[1], pr[0])
			p("\tVADDPS Z25, Z24, Z%d", 16+2*j+h)
		}
	}
	// 256 -> 128: T(j) chunk i = acc(i,j).
	for j := 0; j < 4; j++ {
		p("\tVSHUFF32X4 $0x88, Z%d, Z%d, Z24", 17+2*j, 16+2*j)
		p("\tVSHUFF32X4 $0xDD, Z%d, Z%d, Z25", 17+2*j, 16+2*j)
		p("\tVADDPS Z25, Z24, Z%d", j)
	}
	// Lanes within chunks: two rounds of pairwise sums.
	for _, q := range [][3]int{{0, 1, 4}, {2, 3, 5}, {4, 5, 0}} {
		p("\tVSHUFPS $0x88, Z%d, Z%d, Z24", q[1], q[0])
		p("\tVSHUFPS $0xDD, Z%d, Z%d, Z25", q[1], q[0])
		p("\tVADDPS Z25, Z24, Z%d", q[2])
	}
	p("\tMOVQ c+40(FP), DI")
	p("\tMOVQ ldc+48(FP), R9")
	p("\tVBROADCASTSS alpha+56(FP), X28")
	p("\tVBROADCASTSS beta+60(FP), X29")
	p("\tMOVL beta+60(FP), DX")
	p("\tSHLL $1, DX")
	// Extract rows 1-3 first: writing X0 clears the upper bits of Z0.
	for i := 1; i < 4; i++ {
		p("\tVEXTRACTF32X4 $%d, Z0, X%d", i, i)
	}
	for i := 0; i < 4; i++ {
		p("\tVMULPS X28, X%d, X%d", i, i)
		p("\tTESTL DX, DX")
		p("\tJEQ %s_b0_%d", name, i)
		p("\tVFMADD231PS (DI), X29, X%d", i)
		p("%s_b0_%d:", name, i)
		p("\tVMOVUPS X%d, (DI)", i)
		p("\tADDQ R9, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func main() {
	p("// Code generated by go run ./internal/asmgen; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p("#include \"textflag.h\"")
	p("")
	var kn, dn []string
	var tab strings.Builder
	fmt.Fprintf(&tab, "// Code generated by go run ./internal/asmgen; DO NOT EDIT.\n\n//go:build amd64 && !purego\n\npackage blas\n\n")
	fmt.Fprintf(&tab, "// kern512Tab[v-1][rowA][mr] is the masked AVX-512 kernel for an mr×16v tile.\nvar kern512Tab = [2][2][13]kernFn{\n")
	for v := 1; v <= 2; v++ {
		tab.WriteString("\t{\n")
		for ra := 0; ra < 2; ra++ {
			tab.WriteString("\t\t{nil")
			for mr := 1; mr <= 12; mr++ {
				name := fmt.Sprintf("k512_%dx%d", mr, 16*v)
				if ra == 1 {
					name += "r"
				}
				outer512(name, mr, v, ra == 1)
				fmt.Fprintf(&tab, ", %s", name)
			}
			tab.WriteString("},\n")
		}
		tab.WriteString("\t},\n")
	}
	tab.WriteString("}\n\n// dot512Tab[ma][nb] is the AVX-512 A·Bᵀ kernel for an ma×nb tile.\nvar dot512Tab = [5][5]dotFn{\n\t{},\n")
	for ma := 1; ma <= 4; ma++ {
		tab.WriteString("\t{nil")
		for nb := 1; nb <= 4; nb++ {
			name := fmt.Sprintf("d512_%dx%d", ma, nb)
			dot512(name, ma, nb)
			fmt.Fprintf(&tab, ", %s", name)
		}
		tab.WriteString("},\n")
	}
	tab.WriteString("}\n\n// dot256Tab[ma][nb] is the AVX2 A·Bᵀ kernel for an ma×nb tile (ma ≤ 2).\nvar dot256Tab = [5][5]dotFn{\n\t{},\n")
	for ma := 1; ma <= 2; ma++ {
		tab.WriteString("\t{nil")
		for nb := 1; nb <= 4; nb++ {
			name := fmt.Sprintf("d256_%dx%d", ma, nb)
			dot256(name, ma, nb)
			fmt.Fprintf(&tab, ", %s", name)
			dn = append(dn, name)
		}
		tab.WriteString("},\n")
	}
	tab.WriteString("}\n\n")
	tab.WriteString("// rows256Tab[rowA][mr] is the AVX2 kernel for an mr×16 tile (mr ≤ 6).\nvar rows256Tab = [2][7]kernFn{\n")
	for ra := 0; ra < 2; ra++ {
		tab.WriteString("\t{nil")
		for mr := 1; mr <= 6; mr++ {
			name := fmt.Sprintf("k256_%dx16", mr)
			if mr == 6 {
				name = "kern256x6"
			}
			if ra == 1 {
				name += "r"
			}
			fmt.Fprintf(&tab, ", %s", name)
			if mr < 6 {
				kn = append(kn, name)
			}
		}
		tab.WriteString("},\n")
	}
	tab.WriteString("}\n\n")
	decl := func(names []string, sig string) {
		for _, n := range names {
			fmt.Fprintf(&tab, "//go:noescape\nfunc %s%s\n\n", n, sig)
		}
	}
	for v := 1; v <= 2; v++ {
		for ra := 0; ra < 2; ra++ {
			for mr := 1; mr <= 12; mr++ {
				name := fmt.Sprintf("k512_%dx%d", mr, 16*v)
				if ra == 1 {
					name += "r"
				}
				kn = append(kn, name)
			}
		}
	}
	for ma := 1; ma <= 4; ma++ {
		for nb := 1; nb <= 4; nb++ {
			dn = append(dn, fmt.Sprintf("d512_%dx%d", ma, nb))
		}
	}
	decl(kn, "(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, mask uint64)")
	decl(dn, "(k int, a *float32, lda uintptr, b *float32, ldb uintptr, c *float32, ldc uintptr, alpha, beta float32, kmask uint64)")
	if err := os.WriteFile("kernel_amd64_tab.go", gofmt(tab.String()), 0o644); err != nil {
		panic(err)
	}
	outer("kern256x6", 6, 2, "Y", 8, false)
	outer("kern256x6r", 6, 2, "Y", 8, true)
	for mr := 1; mr < 6; mr++ {
		outer(fmt.Sprintf("k256_%dx16", mr), mr, 2, "Y", 8, false)
		outer(fmt.Sprintf("k256_%dx16r", mr), mr, 2, "Y", 8, true)
	}
	packBT512()
	packBT256()
	transBT512()
	fmaPeak("fmaPeak512", "Z", 24)
	fmaPeak("fmaPeak256", "Y", 12)
	level1("AVX512", "Z", 16)
	level1("AVX2", "Y", 8)
	os.Stdout.WriteString(w.String())
}

func gofmt(src string) []byte {
	b, err := format.Source([]byte(src))
	if err != nil {
		panic(err)
	}
	return b
}
