//go:build amd64 && !purego

#include "textflag.h"

// The SGD/Nesterov update of applyUpdateScalar, 16 lanes at a time. It
// must give the scalar loop's bits, so there is no FMA (it rounds once
// where the scalar code rounds twice). Operands follow the scalar code's
// order as Go 1.26 compiles it, which only matters for which NaN comes
// out where two NaNs meet (x86 returns the first source's); the tests
// accept any NaN there (see update_vec_test.go). In Go's syntax
// VMULPS b, a, d is d = a*b with a the first source.
//
// Registers: Z24 clipScale, Z25 accumScale, Z26 decay, Z27 rate,
// Z28 momentum, Z29 1+momentum, Z30 -momentum; SI data, DI diff, DX h1,
// AX the byte offset.

// GRAD: g = (diff*cs)*as.
#define GRAD(g) \
	VMULPS Z24, g, g \
	VMULPS Z25, g, g

// GRAD_L2: g = dec*data + g, the sum's first source g.
#define GRAD_L2(d, g, t) \
	VMULPS Z26, d, t \
	VADDPS t, g, g

// SGD: h = lr*g + mom*h1, data -= h; h is left in h.
#define SGD(d, g, h) \
	VMULPS Z27, g, g \
	VMULPS Z28, h, h \
	VADDPS h, g, h \
	VSUBPS h, d, d

// NEST: with p = h1, the new history h = lr*g + mom*p is left in g and
// the step v = (1+mom)*h + (-mom)*p (first source (-mom)*p) in p;
// data -= v.
#define NEST(d, g, p, t) \
	VMULPS Z27, g, g \
	VMULPS Z28, p, t \
	VADDPS t, g, g \
	VMULPS p, Z30, p \
	VMULPS Z29, g, t \
	VADDPS t, p, p \
	VSUBPS p, d, d

#define LOAD(off, d, g, h) \
	VMOVUPS off(SI)(AX*1), d \
	VMOVUPS off(DI)(AX*1), g \
	VMOVUPS off(DX)(AX*1), h

// STORE writes data d, diff v and h1 h.
#define STORE(off, d, v, h) \
	VMOVUPS h, off(DX)(AX*1) \
	VMOVUPS v, off(DI)(AX*1) \
	VMOVUPS d, off(SI)(AX*1)

// The masked forms read and write only the lanes set in k; masked-off
// lanes of a load are zero and never fault.
#define LOADM(k, d, g, h) \
	VMOVUPS.Z (SI)(AX*1), k, d \
	VMOVUPS.Z (DI)(AX*1), k, g \
	VMOVUPS.Z (DX)(AX*1), k, h

#define STOREM(k, d, v, h) \
	VMOVUPS h, k, (DX)(AX*1) \
	VMOVUPS v, k, (DI)(AX*1) \
	VMOVUPS d, k, (SI)(AX*1)

// One vector per method and regularization, whole (off bytes past AX)
// or masked (lanes k at AX).
#define V_SGD(off, d, g, h, t) LOAD(off, d, g, h) \
	GRAD(g) \
	SGD(d, g, h) \
	STORE(off, d, h, h)
#define M_SGD(k, d, g, h, t) LOADM(k, d, g, h) \
	GRAD(g) \
	SGD(d, g, h) \
	STOREM(k, d, h, h)
#define V_SGD_L2(off, d, g, h, t) LOAD(off, d, g, h) \
	GRAD(g) \
	GRAD_L2(d, g, t) \
	SGD(d, g, h) \
	STORE(off, d, h, h)
#define M_SGD_L2(k, d, g, h, t) LOADM(k, d, g, h) \
	GRAD(g) \
	GRAD_L2(d, g, t) \
	SGD(d, g, h) \
	STOREM(k, d, h, h)
#define V_NEST(off, d, g, h, t) LOAD(off, d, g, h) \
	GRAD(g) \
	NEST(d, g, h, t) \
	STORE(off, d, h, g)
#define M_NEST(k, d, g, h, t) LOADM(k, d, g, h) \
	GRAD(g) \
	NEST(d, g, h, t) \
	STOREM(k, d, h, g)
#define V_NEST_L2(off, d, g, h, t) LOAD(off, d, g, h) \
	GRAD(g) \
	GRAD_L2(d, g, t) \
	NEST(d, g, h, t) \
	STORE(off, d, h, g)
#define M_NEST_L2(k, d, g, h, t) LOADM(k, d, g, h) \
	GRAD(g) \
	GRAD_L2(d, g, t) \
	NEST(d, g, h, t) \
	STOREM(k, d, h, g)

// KERNEL runs one method over the whole range: the masked head (lanes
// K1) up to data's first 64-byte boundary, blocks of 4 vectors to R11,
// single vectors to R8, the masked tail (lanes K2).
#define KERNEL(V, M, lhead, l4, l1, ltail) \
	XORQ AX, AX \
	KORTESTW K1, K1 \
	JZ lhead \
	M(K1, Z0, Z1, Z2, Z3) \
lhead: \
	MOVQ R10, AX \
l4: \
	CMPQ AX, R11 \
	JAE l1 \
	V(0, Z0, Z1, Z2, Z3) \
	V(64, Z4, Z5, Z6, Z7) \
	V(128, Z8, Z9, Z10, Z11) \
	V(192, Z12, Z13, Z14, Z15) \
	ADDQ $256, AX \
	JMP l4 \
l1: \
	CMPQ AX, R8 \
	JAE ltail \
	V(0, Z0, Z1, Z2, Z3) \
	ADDQ $64, AX \
	JMP l1 \
ltail: \
	KORTESTW K2, K2 \
	JZ done \
	M(K2, Z0, Z1, Z2, Z3) \
	JMP done

// func momentumUpdateAVX512(data, diff, h1 *float32, n, mode int, cs, as, dec, lr, mom, onePlus, negMom float32)
//
// mode: bit 0 Nesterov (else SGD), bit 1 L2 decay (else none). The data
// stores are aligned (a masked head first) so that each writes one whole
// cache line: data may be memory another process reads, and a partial
// line costs a second transfer.
TEXT ·momentumUpdateAVX512(SB), NOSPLIT, $0-68
	MOVQ data+0(FP), SI
	MOVQ diff+8(FP), DI
	MOVQ h1+16(FP), DX
	MOVQ n+24(FP), R8
	MOVQ mode+32(FP), BX
	VBROADCASTSS cs+40(FP), Z24
	VBROADCASTSS as+44(FP), Z25
	VBROADCASTSS dec+48(FP), Z26
	VBROADCASTSS lr+52(FP), Z27
	VBROADCASTSS mom+56(FP), Z28
	VBROADCASTSS onePlus+60(FP), Z29
	VBROADCASTSS negMom+64(FP), Z30

	// Head: min(n, elements before data's next line boundary).
	MOVQ SI, CX
	NEGQ CX
	ANDQ $63, CX
	SHRQ $2, CX
	CMPQ CX, R8
	CMOVQGT R8, CX
	SUBQ CX, R8
	MOVL $1, R9
	SHLL CX, R9
	DECL R9
	KMOVW R9, K1
	SHLQ $2, CX
	MOVQ CX, R10 // byte offset of the first whole vector

	// Tail: n mod 16 of what is left.
	MOVQ R8, CX
	ANDQ $15, CX
	MOVL $1, R9
	SHLL CX, R9
	DECL R9
	KMOVW R9, K2

	ANDQ $-16, R8
	SHLQ $2, R8
	MOVQ R8, R11
	ANDQ $-256, R11
	ADDQ R10, R8  // end of the single vectors = start of the tail
	ADDQ R10, R11 // end of the 4-vector blocks

	CMPQ BX, $1
	JEQ  nest
	CMPQ BX, $2
	JEQ  sgdl2
	CMPQ BX, $3
	JEQ  nestl2

	KERNEL(V_SGD, M_SGD, sgdh, sgd4, sgd1, sgdt)
nest:
	KERNEL(V_NEST, M_NEST, nesth, nest4, nest1, nestt)
sgdl2:
	KERNEL(V_SGD_L2, M_SGD_L2, sgdl2h, sgdl24, sgdl21, sgdl2t)
nestl2:
	KERNEL(V_NEST_L2, M_NEST_L2, nestl2h, nestl24, nestl21, nestl2t)

done:
	VZEROUPPER
	RET
