//go:build amd64 && !purego

#include "textflag.h"

// func im2colPlaneAVX(col, plane *float32, ld, wp, kh, kw, oh, ow int)
//
// For each kernel offset (ky, kx), in order, copies the oh×ow window of
// plane (rows wp floats apart) at (ky, kx) into the next row of col (rows
// ld floats apart, the window's rows back to back). ow is a multiple of 8.
TEXT ·im2colPlaneAVX(SB), NOSPLIT, $0-64
	MOVQ col+0(FP), DI
	MOVQ plane+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ wp+24(FP), R9
	SHLQ $2, R9
	MOVQ oh+48(FP), R12
	MOVQ ow+56(FP), R13
	SHLQ $2, R13
	XORQ AX, AX // ky

kyloop:
	XORQ BX, BX // kx

kxloop:
	MOVQ AX, CX
	IMULQ R9, CX
	ADDQ SI, CX
	LEAQ (CX)(BX*4), CX // window's first row in plane
	MOVQ DI, DX         // col row
	MOVQ R12, R10       // rows left

yloop:
	XORQ R11, R11

xloop:
	VMOVUPS (CX)(R11*1), Y0
	VMOVUPS Y0, (DX)(R11*1)
	ADDQ $32, R11
	CMPQ R11, R13
	JLT  xloop
	ADDQ R9, CX
	ADDQ R13, DX
	DECQ R10
	JNZ  yloop

	ADDQ R8, DI
	INCQ BX
	CMPQ BX, kw+40(FP)
	JLT  kxloop
	INCQ AX
	CMPQ AX, kh+32(FP)
	JLT  kyloop
	VZEROUPPER
	RET

// func col2imPlaneAVX(plane, col *float32, wp, kh, kw, oh, ow int)
//
// The adjoint of im2colPlaneAVX with ld = oh*ow: for each kernel offset
// (ky, kx), in order, adds the next oh×ow block of col into plane's window
// at (ky, kx), element by element in the same order as the scalar loop.
TEXT ·col2imPlaneAVX(SB), NOSPLIT, $0-56
	MOVQ plane+0(FP), SI
	MOVQ col+8(FP), DI
	MOVQ wp+16(FP), R9
	SHLQ $2, R9
	MOVQ oh+40(FP), R12
	MOVQ ow+48(FP), R13
	SHLQ $2, R13
	XORQ AX, AX // ky

ckyloop:
	XORQ BX, BX // kx

ckxloop:
	MOVQ AX, CX
	IMULQ R9, CX
	ADDQ SI, CX
	LEAQ (CX)(BX*4), CX
	MOVQ R12, R10

cyloop:
	XORQ R11, R11

cxloop:
	VMOVUPS (CX)(R11*1), Y0
	VADDPS (DI)(R11*1), Y0, Y0
	VMOVUPS Y0, (CX)(R11*1)
	ADDQ $32, R11
	CMPQ R11, R13
	JLT  cxloop
	ADDQ R9, CX
	ADDQ R13, DI
	DECQ R10
	JNZ  cyloop

	INCQ BX
	CMPQ BX, kw+32(FP)
	JLT  ckxloop
	INCQ AX
	CMPQ AX, kh+24(FP)
	JLT  ckyloop
	VZEROUPPER
	RET

// func addBiasRowsAVX(out, bias *float32, rows, cols int)
//
// out[r*cols+j] += bias[r] for every row r and column j; cols is a
// multiple of 8.
TEXT ·addBiasRowsAVX(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), DX
	SHLQ $2, DX
	TESTQ CX, CX
	JLE  bdone

brow:
	VBROADCASTSS (SI), Y1
	XORQ AX, AX

bcol:
	VADDPS (DI)(AX*1), Y1, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JLT  bcol
	ADDQ DX, DI
	ADDQ $4, SI
	DECQ CX
	JNZ  brow

bdone:
	VZEROUPPER
	RET

// func copyRowsAVX(dst, src *float32, n, w, dstStride, srcStride int)
//
// Copies n rows of w floats (a multiple of 8), rows dstStride and
// srcStride floats apart.
TEXT ·copyRowsAVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ w+24(FP), DX
	SHLQ $2, DX
	MOVQ dstStride+32(FP), R8
	SHLQ $2, R8
	MOVQ srcStride+40(FP), R9
	SHLQ $2, R9
	TESTQ CX, CX
	JLE  rdone

rrow:
	XORQ AX, AX

rcol:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JLT  rcol
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ CX
	JNZ  rrow

rdone:
	VZEROUPPER
	RET

// func sum8AVX(v *float32, n int) float32
//
// The sum of n floats (a multiple of 8, > 0) exactly as sum32 computes it:
// lane j accumulates elements j, j+8, ..., in order, and the lanes are
// combined as ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)).
TEXT ·sum8AVX(SB), NOSPLIT, $0-20
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	SHLQ $2, CX
	VXORPS Y0, Y0, Y0
	XORQ AX, AX

sloop:
	VADDPS (SI)(AX*1), Y0, Y0
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  sloop
	VHADDPS Y0, Y0, Y0 // per half: s0+s1, s2+s3, ...
	VHADDPS Y0, Y0, Y0 // per half: (s0+s1)+(s2+s3)
	VEXTRACTF128 $1, Y0, X1
	VADDSS X1, X0, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func addToAVX(dst, src *float32, n int)
//
// dst[i] += src[i] for n floats (a multiple of 8).
TEXT ·addToAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHLQ $2, CX
	XORQ AX, AX
	TESTQ CX, CX
	JLE  adone

aloop:
	VMOVUPS (DI)(AX*1), Y0
	VADDPS (SI)(AX*1), Y0, Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ $32, AX
	CMPQ AX, CX
	JLT  aloop

adone:
	VZEROUPPER
	RET
