//go:build amd64 && !purego

#include "textflag.h"

// Lane indices 0, 2, ..., 30 (even columns of a 32-float pair of
// registers) and 1, 3, ..., 31 (odd columns).
DATA poolEven<>+0(SB)/4, $0
DATA poolEven<>+4(SB)/4, $2
DATA poolEven<>+8(SB)/4, $4
DATA poolEven<>+12(SB)/4, $6
DATA poolEven<>+16(SB)/4, $8
DATA poolEven<>+20(SB)/4, $10
DATA poolEven<>+24(SB)/4, $12
DATA poolEven<>+28(SB)/4, $14
DATA poolEven<>+32(SB)/4, $16
DATA poolEven<>+36(SB)/4, $18
DATA poolEven<>+40(SB)/4, $20
DATA poolEven<>+44(SB)/4, $22
DATA poolEven<>+48(SB)/4, $24
DATA poolEven<>+52(SB)/4, $26
DATA poolEven<>+56(SB)/4, $28
DATA poolEven<>+60(SB)/4, $30
GLOBL poolEven<>(SB), RODATA|NOPTR, $64

DATA poolOdd<>+0(SB)/4, $1
DATA poolOdd<>+4(SB)/4, $3
DATA poolOdd<>+8(SB)/4, $5
DATA poolOdd<>+12(SB)/4, $7
DATA poolOdd<>+16(SB)/4, $9
DATA poolOdd<>+20(SB)/4, $11
DATA poolOdd<>+24(SB)/4, $13
DATA poolOdd<>+28(SB)/4, $15
DATA poolOdd<>+32(SB)/4, $17
DATA poolOdd<>+36(SB)/4, $19
DATA poolOdd<>+40(SB)/4, $21
DATA poolOdd<>+44(SB)/4, $23
DATA poolOdd<>+48(SB)/4, $25
DATA poolOdd<>+52(SB)/4, $27
DATA poolOdd<>+56(SB)/4, $29
DATA poolOdd<>+60(SB)/4, $31
GLOBL poolOdd<>(SB), RODATA|NOPTR, $64

// KEY turns float bits in z into their order key (see floatKey), using
// Z30 = 0x7fffffff and tmp: z ^= (z >> 31 arithmetic) & Z30, the and and
// xor as one ternary logic op (0x78: A xor (B and C)).
#define KEY(z, tmp) \
	VPSRAD $31, z, tmp \
	VPTERNLOGD $0x78, Z30, tmp, z

// ROW3 reduces one input row (at p) to the per-window maximum key in m and
// the column offset (0, 1, 2) of its first occurrence in off. Clobbers
// Z0-Z5, K4.
#define ROW3(p, m, off) \
	VMOVUPS.Z (p), K1, Z0 \
	VMOVUPS.Z 64(p), K2, Z1 \
	VMOVDQA32 Z0, m \
	VPERMT2D Z1, Z28, m \
	VMOVDQA32 Z0, Z3 \
	VPERMT2D Z1, Z29, Z3 \
	VALIGND $1, m, Z31, Z4 \
	KEY(m, Z5) \
	KEY(Z3, Z5) \
	KEY(Z4, Z5) \
	VPXORD off, off, off \
	VPCMPGTD m, Z3, K4 \
	VPMAXSD Z3, m, m \
	VMOVDQA32 Z26, K4, off \
	VPCMPGTD m, Z4, K4 \
	VPMAXSD Z4, m, m \
	VMOVDQA32 Z27, K4, off

// func maxPool3x3s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, rows, ny, outStride int)
//
// Pools n <= 16 3x3 stride-2 windows in each of ny output rows: in points
// at the first window's top-left element, input rows w floats apart, and
// rows (2 or 3) input rows are read per output row (the bottom one may be
// clipped to 2); output rows are outStride floats apart and take 2w input
// floats each. The windows read columns [0, 2n+1), loaded under masks m1
// (columns 0-15) and m2 (16-31); m3 selects the n outputs. A 16th window
// has no third column (it is clipped by the right edge of a 32-wide
// plane): that lane gets the lowest key, which never wins. base is in's
// index within its plane.
TEXT ·maxPool3x3s2AVX512(SB), NOSPLIT, $0-96
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ out+16(FP), DI
	MOVQ mask+24(FP), R8
	MOVQ base+32(FP), DX
	MOVQ noMax+40(FP), R9
	MOVQ m1+48(FP), AX
	KMOVW AX, K1
	MOVQ m2+56(FP), AX
	KMOVW AX, K2
	MOVQ m3+64(FP), AX
	KMOVW AX, K3
	MOVQ rows+72(FP), R13
	MOVQ ny+80(FP), R11
	MOVQ outStride+88(FP), R12
	SHLQ $2, R12             // output row stride in bytes

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	VPTERNLOGD $0xff, Z31, Z31, Z31 // all ones: the key of its bits is the lowest
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	MOVL $2, AX
	VPBROADCASTD AX, Z27
	VPBROADCASTD BX, Z25     // w
	VPBROADCASTD DX, Z24     // base
	VPBROADCASTD R9, Z23     // noMax key
	LEAQ (BX)(BX*1), AX
	VPBROADCASTD AX, Z22     // 2w: base step per output row
	SHLQ $2, BX              // input row stride in bytes
	LEAQ (BX)(BX*1), R14     // input step per output row in bytes

	TESTQ R11, R11
	JLE  end

loop:
	// Row 0 into Z10/Z11, rows 1 and 2 merged in; a later row wins only
	// when strictly greater, so the first maximum in row-major order does.
	MOVQ SI, R10
	ROW3(R10, Z10, Z11)
	ADDQ BX, R10
	ROW3(R10, Z12, Z13)
	VPADDD Z25, Z13, Z13
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11
	CMPQ R13, $3
	JLT  merged
	ADDQ BX, R10
	ROW3(R10, Z12, Z13)
	VPADDD Z25, Z13, Z13
	VPADDD Z25, Z13, Z13
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11

merged:
	// index = base + 2*lane + offset; a window with no key above
	// -FLT_MAX's gives -FLT_MAX and index -1, as the scalar code does.
	VPADDD Z28, Z11, Z11
	VPADDD Z24, Z11, Z11
	VPCMPGTD Z23, Z10, K4
	VMOVDQA32 Z23, Z14
	VMOVDQA32 Z10, K4, Z14
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VMOVDQA32 Z11, K4, Z15
	KEY(Z14, Z5)
	VMOVDQU32 Z14, K3, (DI)
	VMOVDQU32 Z15, K3, (R8)

	ADDQ R14, SI
	ADDQ R12, DI
	ADDQ R12, R8
	VPADDD Z22, Z24, Z24
	DECQ R11
	JNZ  loop

end:
	VZEROUPPER
	RET

// ROW2 is ROW3 for 2-wide windows: offsets 0 and 1.
#define ROW2(p, m, off) \
	VMOVUPS.Z (p), K1, Z0 \
	VMOVUPS.Z 64(p), K2, Z1 \
	VMOVDQA32 Z0, m \
	VPERMT2D Z1, Z28, m \
	VMOVDQA32 Z0, Z3 \
	VPERMT2D Z1, Z29, Z3 \
	KEY(m, Z5) \
	KEY(Z3, Z5) \
	VPXORD off, off, off \
	VPCMPGTD m, Z3, K4 \
	VPMAXSD Z3, m, m \
	VMOVDQA32 Z26, K4, off

// func maxPool2x2s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, ny, outStride, planeRows int)
//
// maxPool3x3s2AVX512 for n <= 16 whole 2x2 stride-2 windows per output
// row (columns [0, 2n) under masks m1 and m2), ny output rows. Every
// planeRows output rows the index base restarts at 0: consecutive planes
// of height 2*planeRows, pooled in one call.
TEXT ·maxPool2x2s2AVX512(SB), NOSPLIT, $0-96
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ out+16(FP), DI
	MOVQ mask+24(FP), R8
	MOVQ base+32(FP), DX
	MOVQ noMax+40(FP), R9
	MOVQ m1+48(FP), AX
	KMOVW AX, K1
	MOVQ m2+56(FP), AX
	KMOVW AX, K2
	MOVQ m3+64(FP), AX
	KMOVW AX, K3
	MOVQ ny+72(FP), R11
	MOVQ outStride+80(FP), R12
	SHLQ $2, R12
	MOVQ planeRows+88(FP), R13

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	VPBROADCASTD BX, Z25     // w
	VPBROADCASTD DX, Z24     // base
	VPBROADCASTD R9, Z23     // noMax key
	LEAQ (BX)(BX*1), AX
	VPBROADCASTD AX, Z22     // 2w
	SHLQ $2, BX
	LEAQ (BX)(BX*1), R14

	TESTQ R11, R11
	JLE  end2

loop2:
	ROW2(SI, Z10, Z11)
	LEAQ (SI)(BX*1), R10
	ROW2(R10, Z12, Z13)
	VPADDD Z25, Z13, Z13
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11

	VPADDD Z28, Z11, Z11
	VPADDD Z24, Z11, Z11
	VPCMPGTD Z23, Z10, K4
	VMOVDQA32 Z23, Z14
	VMOVDQA32 Z10, K4, Z14
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VMOVDQA32 Z11, K4, Z15
	KEY(Z14, Z5)
	VMOVDQU32 Z14, K3, (DI)
	VMOVDQU32 Z15, K3, (R8)

	ADDQ R14, SI
	ADDQ R12, DI
	ADDQ R12, R8
	VPADDD Z22, Z24, Z24
	DECQ R13
	JNZ  same2
	VPXORD Z24, Z24, Z24 // next plane
	MOVQ planeRows+88(FP), R13

same2:
	DECQ R11
	JNZ  loop2

end2:
	VZEROUPPER
	RET

// Lane indices that interleave two registers (a: even columns, b: odd
// columns) back into columns 0-15 and 16-31.
DATA poolInterLo<>+0(SB)/4, $0
DATA poolInterLo<>+4(SB)/4, $16
DATA poolInterLo<>+8(SB)/4, $1
DATA poolInterLo<>+12(SB)/4, $17
DATA poolInterLo<>+16(SB)/4, $2
DATA poolInterLo<>+20(SB)/4, $18
DATA poolInterLo<>+24(SB)/4, $3
DATA poolInterLo<>+28(SB)/4, $19
DATA poolInterLo<>+32(SB)/4, $4
DATA poolInterLo<>+36(SB)/4, $20
DATA poolInterLo<>+40(SB)/4, $5
DATA poolInterLo<>+44(SB)/4, $21
DATA poolInterLo<>+48(SB)/4, $6
DATA poolInterLo<>+52(SB)/4, $22
DATA poolInterLo<>+56(SB)/4, $7
DATA poolInterLo<>+60(SB)/4, $23
GLOBL poolInterLo<>(SB), RODATA|NOPTR, $64

DATA poolInterHi<>+0(SB)/4, $8
DATA poolInterHi<>+4(SB)/4, $24
DATA poolInterHi<>+8(SB)/4, $9
DATA poolInterHi<>+12(SB)/4, $25
DATA poolInterHi<>+16(SB)/4, $10
DATA poolInterHi<>+20(SB)/4, $26
DATA poolInterHi<>+24(SB)/4, $11
DATA poolInterHi<>+28(SB)/4, $27
DATA poolInterHi<>+32(SB)/4, $12
DATA poolInterHi<>+36(SB)/4, $28
DATA poolInterHi<>+40(SB)/4, $13
DATA poolInterHi<>+44(SB)/4, $29
DATA poolInterHi<>+48(SB)/4, $14
DATA poolInterHi<>+52(SB)/4, $30
DATA poolInterHi<>+56(SB)/4, $15
DATA poolInterHi<>+60(SB)/4, $31
GLOBL poolInterHi<>(SB), RODATA|NOPTR, $64

// UNPOOLROW writes one input row (at p) of the windows: column 2j gets
// g[j] where the window's argmax is idx (= Z16 lanes), column 2j+1 where
// it is idx+1, zero elsewhere. Clobbers Z12-Z15, Z17, K4.
#define UNPOOLROW(p) \
	VPCMPEQD Z10, Z16, K4 \
	VMOVAPS.Z Z11, K4, Z12 \
	VPADDD Z26, Z16, Z17 \
	VPCMPEQD Z10, Z17, K4 \
	VMOVAPS.Z Z11, K4, Z13 \
	VMOVAPS Z12, Z14 \
	VPERMT2PS Z13, Z20, Z14 \
	VMOVAPS Z12, Z15 \
	VPERMT2PS Z13, Z21, Z15 \
	VMOVUPS Z14, K1, (p) \
	VMOVUPS Z15, K2, 64(p)

// func maxUnpool2x2s2AVX512(dIn *float32, w int, dOut *float32, mask *int32, m1, m2, m3 uint64, ny, outStride, planeRows int)
//
// The MAX pooling backward pass for planes tiled exactly by 2x2 stride-2
// windows (n <= 16 per output row, ny output rows, the index base
// restarting every planeRows rows): every bottom gradient element is
// written, 0 + the top gradient at each window's argmax and 0 elsewhere,
// which is what clearing and scattering gives (0 + g turns -0 into +0).
TEXT ·maxUnpool2x2s2AVX512(SB), NOSPLIT, $0-80
	MOVQ dIn+0(FP), DI
	MOVQ w+8(FP), BX
	MOVQ dOut+16(FP), SI
	MOVQ mask+24(FP), R8
	MOVQ m1+32(FP), AX
	KMOVW AX, K1
	MOVQ m2+40(FP), AX
	KMOVW AX, K2
	MOVQ m3+48(FP), AX
	KMOVW AX, K3
	MOVQ ny+56(FP), R11
	MOVQ outStride+64(FP), R12
	SHLQ $2, R12
	MOVQ planeRows+72(FP), R13

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolInterLo<>(SB), Z20
	VMOVDQU32 poolInterHi<>(SB), Z21
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	VPBROADCASTD BX, Z25     // w
	VPXORD Z24, Z24, Z24     // base
	VPXORD Z27, Z27, Z27     // +0.0
	LEAQ (BX)(BX*1), AX
	VPBROADCASTD AX, Z22     // 2w
	SHLQ $2, BX              // row stride in bytes
	LEAQ (BX)(BX*1), R14

	TESTQ R11, R11
	JLE  uend

uloop:
	VMOVDQU32.Z (R8), K3, Z10
	VMOVUPS.Z (SI), K3, Z11
	VADDPS Z11, Z27, Z11     // 0 + g
	VPADDD Z28, Z24, Z16     // index of each window's top-left element
	UNPOOLROW(DI)
	VPADDD Z25, Z16, Z16     // bottom row
	LEAQ (DI)(BX*1), R10
	UNPOOLROW(R10)

	ADDQ R14, DI
	ADDQ R12, SI
	ADDQ R12, R8
	VPADDD Z22, Z24, Z24
	DECQ R13
	JNZ  usame
	VPXORD Z24, Z24, Z24
	MOVQ planeRows+72(FP), R13

usame:
	DECQ R11
	JNZ  uloop

uend:
	VZEROUPPER
	RET

// func maxPool2x2s2BAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, ny, outStride, pf int)
//
// maxPool2x2s2AVX512 with a byte of mask per window instead of an int32
// index: the argmax's position in its window (0, 1 top row; 2, 3 bottom
// row), 0xff for a window with no key above -FLT_MAX's. A quarter of the
// mask traffic, and no index base to carry across planes. out and mask
// rows are outStride elements apart. Each iteration prefetches the 256
// bytes pf bytes ahead of its input: in a training step the bottom is
// mostly out of cache, and the hardware prefetcher alone measured 2.5x
// slower on pool2 from a cold cache.
TEXT ·maxPool2x2s2BAVX512(SB), NOSPLIT, $0-88
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ out+16(FP), DI
	MOVQ mask+24(FP), R8
	MOVQ noMax+32(FP), R9
	MOVQ m1+40(FP), AX
	KMOVW AX, K1
	MOVQ m2+48(FP), AX
	KMOVW AX, K2
	MOVQ m3+56(FP), AX
	KMOVW AX, K3
	MOVQ ny+64(FP), R11
	MOVQ outStride+72(FP), R12
	MOVQ pf+80(FP), R15

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	MOVL $2, AX
	VPBROADCASTD AX, Z27
	VPBROADCASTD R9, Z23     // noMax key
	SHLQ $2, BX              // input row stride in bytes
	LEAQ (BX)(BX*1), R14     // input step per output row

	TESTQ R11, R11
	JLE  endb

loopb:
	LEAQ (SI)(R15*1), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	ROW2(SI, Z10, Z11)
	LEAQ (SI)(BX*1), R10
	ROW2(R10, Z12, Z13)
	VPADDD Z27, Z13, Z13     // bottom row: positions 2, 3
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11

	VPCMPGTD Z23, Z10, K4
	VMOVDQA32 Z23, Z14
	VMOVDQA32 Z10, K4, Z14
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VMOVDQA32 Z11, K4, Z15
	KEY(Z14, Z5)
	VMOVDQU32 Z14, K3, (DI)
	VPMOVDB Z15, K3, (R8)

	ADDQ R14, SI
	LEAQ (DI)(R12*4), DI
	ADDQ R12, R8
	DECQ R11
	JNZ  loopb

endb:
	VZEROUPPER
	RET

// UNPOOLROWB is UNPOOLROW for byte masks (Z10, widened): column 2j gets
// g[j] where the mask is c0, column 2j+1 where it is c1.
#define UNPOOLROWB(p, c0, c1) \
	VPCMPEQD c0, Z10, K4 \
	VMOVAPS.Z Z11, K4, Z12 \
	VPCMPEQD c1, Z10, K4 \
	VMOVAPS.Z Z11, K4, Z13 \
	VMOVAPS Z12, Z14 \
	VPERMT2PS Z13, Z20, Z14 \
	VMOVAPS Z12, Z15 \
	VPERMT2PS Z13, Z21, Z15 \
	VMOVUPS Z14, K1, (p) \
	VMOVUPS Z15, K2, 64(p)

// func maxUnpool2x2s2BAVX512(dIn *float32, w int, dOut *float32, mask *uint8, m1, m2, m3 uint64, ny, outStride, pf int)
//
// maxUnpool2x2s2AVX512 for the byte masks of maxPool2x2s2BAVX512; the
// prefetch runs pf bytes ahead of the rows written.
TEXT ·maxUnpool2x2s2BAVX512(SB), NOSPLIT, $0-80
	MOVQ dIn+0(FP), DI
	MOVQ w+8(FP), BX
	MOVQ dOut+16(FP), SI
	MOVQ mask+24(FP), R8
	MOVQ m1+32(FP), AX
	KMOVW AX, K1
	MOVQ m2+40(FP), AX
	KMOVW AX, K2
	MOVQ m3+48(FP), AX
	KMOVW AX, K3
	MOVQ ny+56(FP), R11
	MOVQ outStride+64(FP), R12
	MOVQ pf+72(FP), R15

	VMOVDQU32 poolInterLo<>(SB), Z20
	VMOVDQU32 poolInterHi<>(SB), Z21
	VPXORD Z24, Z24, Z24     // position 0 (and +0.0)
	MOVL $1, AX
	VPBROADCASTD AX, Z25
	MOVL $2, AX
	VPBROADCASTD AX, Z26
	MOVL $3, AX
	VPBROADCASTD AX, Z27
	SHLQ $2, BX              // row stride in bytes
	LEAQ (BX)(BX*1), R14

	TESTQ R11, R11
	JLE  uendb

uloopb:
	LEAQ (DI)(R15*1), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	VPMOVZXBD.Z (R8), K3, Z10
	VMOVUPS.Z (SI), K3, Z11
	VADDPS Z11, Z24, Z11     // 0 + g
	UNPOOLROWB(DI, Z24, Z25)
	LEAQ (DI)(BX*1), R10
	UNPOOLROWB(R10, Z26, Z27)

	ADDQ R14, DI
	LEAQ (SI)(R12*4), SI
	ADDQ R12, R8
	DECQ R11
	JNZ  uloopb

uendb:
	VZEROUPPER
	RET

// LOADP loads k rows' worth of 2x2-window input rows (see
// maxPool2x2s2PAVX512) into the column pair Z0:Z1: segment 0 from base
// (lanes under K1), 1 from base+R9 into lanes 8.. (K2), 2 from base+R10
// into Z1 (K1), 3 from base+R12 into Z1's lanes 8.. (K2).
#define LOADP(base) \
	VMOVUPS.Z (base), K1, Z0 \
	VMOVUPS -32(base)(R9*1), K2, Z0 \
	VMOVUPS.Z (base)(R10*1), K1, Z1 \
	VMOVUPS -32(base)(R12*1), K2, Z1

// ROWP is ROW2 on the columns already in Z0:Z1.
#define ROWP(m, off) \
	VMOVDQA32 Z0, m \
	VPERMT2D Z1, Z28, m \
	VMOVDQA32 Z0, Z3 \
	VPERMT2D Z1, Z29, Z3 \
	KEY(m, Z5) \
	KEY(Z3, Z5) \
	VPXORD off, off, off \
	VPCMPGTD m, Z3, K4 \
	VPMAXSD Z3, m, m \
	VMOVDQA32 Z26, K4, off

// func maxPool2x2s2PAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int)
//
// maxPool2x2s2BAVX512 for narrow planes (at most 8 windows per output
// row): each iteration pools k = 2 or 4 consecutive output rows (which
// in exactly tiled planes follow each other, across planes too) in one
// vector, the rows' input segments packed side by side: 16 or 8 columns
// each. off1-off3 are the byte offsets of segments 1-3's input rows
// (kHi = 0 when k = 2: segment 1 goes to Z1 through off2). kOut selects
// the lanes that are windows; they are compressed into the contiguous
// outStep outputs (and kCnt selects that many mask bytes). inStep is the
// input bytes per iteration (at most 256: the prefetch's reach).
TEXT ·maxPool2x2s2PAVX512(SB), NOSPLIT, $0-128
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ out+16(FP), DI
	MOVQ mask+24(FP), R8
	MOVQ noMax+32(FP), AX
	VPBROADCASTD AX, Z23
	MOVQ kLo+40(FP), AX
	KMOVW AX, K1
	MOVQ kHi+48(FP), AX
	KMOVW AX, K2
	MOVQ kOut+56(FP), AX
	KMOVW AX, K3
	MOVQ kCnt+64(FP), AX
	KMOVW AX, K5
	MOVQ off1+72(FP), R9
	MOVQ off2+80(FP), R10
	MOVQ off3+88(FP), R12
	MOVQ groups+96(FP), R11
	MOVQ inStep+104(FP), R13
	MOVQ outStep+112(FP), R14
	MOVQ pf+120(FP), CX

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	MOVL $2, AX
	VPBROADCASTD AX, Z27
	SHLQ $2, BX              // input row stride in bytes

	TESTQ R11, R11
	JLE  endp

loopp:
	LEAQ (SI)(CX*1), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	LOADP(SI)
	ROWP(Z10, Z11)
	LEAQ (SI)(BX*1), R15
	LOADP(R15)
	ROWP(Z12, Z13)
	VPADDD Z27, Z13, Z13     // bottom row: positions 2, 3
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11

	VPCMPGTD Z23, Z10, K4
	VMOVDQA32 Z23, Z14
	VMOVDQA32 Z10, K4, Z14
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VMOVDQA32 Z11, K4, Z15
	KEY(Z14, Z5)
	VPCOMPRESSD Z14, K3, (DI)
	VPCOMPRESSD.Z Z15, K3, Z16
	VPMOVDB Z16, K5, (R8)

	ADDQ R13, SI
	LEAQ (DI)(R14*4), DI
	ADDQ R14, R8
	DECQ R11
	JNZ  loopp

endp:
	VZEROUPPER
	RET

// UNPOOLP is UNPOOLROWB storing the packed segments back to their rows
// (the inverse of LOADP).
#define UNPOOLP(p, c0, c1) \
	VPCMPEQD c0, Z10, K4 \
	VMOVAPS.Z Z11, K4, Z12 \
	VPCMPEQD c1, Z10, K4 \
	VMOVAPS.Z Z11, K4, Z13 \
	VMOVAPS Z12, Z14 \
	VPERMT2PS Z13, Z20, Z14 \
	VMOVAPS Z12, Z15 \
	VPERMT2PS Z13, Z21, Z15 \
	VMOVUPS Z14, K1, (p) \
	VMOVUPS Z14, K2, -32(p)(R9*1) \
	VMOVUPS Z15, K1, (p)(R10*1) \
	VMOVUPS Z15, K2, -32(p)(R12*1)

// func maxUnpool2x2s2PAVX512(dIn *float32, w int, dOut *float32, mask *uint8, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int)
//
// maxUnpool2x2s2BAVX512 for the packing of maxPool2x2s2PAVX512: outStep
// gradients and mask bytes expanded into the window lanes, every input
// element of the k rows written.
TEXT ·maxUnpool2x2s2PAVX512(SB), NOSPLIT, $0-120
	MOVQ dIn+0(FP), DI
	MOVQ w+8(FP), BX
	MOVQ dOut+16(FP), SI
	MOVQ mask+24(FP), R8
	MOVQ kLo+32(FP), AX
	KMOVW AX, K1
	MOVQ kHi+40(FP), AX
	KMOVW AX, K2
	MOVQ kOut+48(FP), AX
	KMOVW AX, K3
	MOVQ kCnt+56(FP), AX
	KMOVW AX, K5
	MOVQ off1+64(FP), R9
	MOVQ off2+72(FP), R10
	MOVQ off3+80(FP), R12
	MOVQ groups+88(FP), R11
	MOVQ inStep+96(FP), R13
	MOVQ outStep+104(FP), R14
	MOVQ pf+112(FP), CX

	VMOVDQU32 poolInterLo<>(SB), Z20
	VMOVDQU32 poolInterHi<>(SB), Z21
	VPXORD Z24, Z24, Z24     // position 0 (and +0.0)
	MOVL $1, AX
	VPBROADCASTD AX, Z25
	MOVL $2, AX
	VPBROADCASTD AX, Z26
	MOVL $3, AX
	VPBROADCASTD AX, Z27
	SHLQ $2, BX

	TESTQ R11, R11
	JLE  uendp

uloopp:
	LEAQ (DI)(CX*1), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	PREFETCHT0 128(AX)
	PREFETCHT0 192(AX)
	VPMOVZXBD.Z (R8), K5, Z10
	VPEXPANDD.Z Z10, K3, Z10
	VPEXPANDD.Z (SI), K3, Z11
	VADDPS Z11, Z24, Z11     // 0 + g
	UNPOOLP(DI, Z24, Z25)
	LEAQ (DI)(BX*1), R15
	UNPOOLP(R15, Z26, Z27)

	ADDQ R13, DI
	LEAQ (SI)(R14*4), SI
	ADDQ R14, R8
	DECQ R11
	JNZ  uloopp

uendp:
	VZEROUPPER
	RET

// Kernels for whole planes of 3x3 stride-2 unpadded windows, at most 32
// columns wide (CIFAR-10's pool1-pool3): each call runs over planes
// consecutive planes of h rows by w columns, input rows loaded into the
// column pair Z0:Z1 under m1 (columns 0-15) and m2 (16-31); m3 selects the
// outW windows of an output row. Every input row and column lies in some
// window (2*outH <= h <= 2*outH+1, the same for columns), so backward
// passes write each bottom element once and need no clearing pass. An
// input row is read once: the bottom row of one output row's windows is
// the top row of the next one's. A window's third row or column past
// the edge (ceil rounding) reads as the lowest key (MAX) or zero (AVE);
// the backward passes drop what would land there. Each loaded row
// prefetches the 128 bytes pf bytes ahead; the backward passes, the 256
// bytes pf bytes ahead of the two rows they write per output row.

// ROWK is ROW3 for rows loaded under the masks ka, kb with the columns
// past them the lowest key (so they never win), keys made before the
// permutes: Z31 holds all-ones bits (whose key is the lowest), Z21 the
// lowest key itself.
#define ROWK(p, ka, kb, m, off) \
	PREFETCHT0 (p)(R15*1) \
	PREFETCHT0 64(p)(R15*1) \
	VMOVDQA32 Z31, Z0 \
	VMOVDQA32 Z31, Z1 \
	VMOVDQU32 (p), ka, Z0 \
	VMOVDQU32 64(p), kb, Z1 \
	KEY(Z0, Z5) \
	KEY(Z1, Z5) \
	VMOVDQA32 Z0, m \
	VPERMT2D Z1, Z28, m \
	VMOVDQA32 Z0, Z3 \
	VPERMT2D Z1, Z29, Z3 \
	VALIGND $1, m, Z21, Z4 \
	VPXORD off, off, off \
	VPCMPGTD m, Z3, K4 \
	VPMAXSD Z3, m, m \
	VMOVDQA32 Z26, K4, off \
	VPCMPGTD m, Z4, K4 \
	VPMAXSD Z4, m, m \
	VMOVDQA32 Z27, K4, off

// THIRDMASKS sets K5:K6 to the load masks of the current output row's
// third input row: K1:K2, or none on the last output row (CX = 1) when
// the plane has no row below it (R9 != 0).
#define THIRDMASKS(lbl) \
	KMOVW K1, K5 \
	KMOVW K2, K6 \
	CMPQ CX, $1 \
	JNE  lbl \
	TESTQ R9, R9 \
	JZ   lbl \
	KXORW K5, K5, K5 \
	KXORW K6, K6, K6 \
lbl:

// func maxPool3x3s2PlAVX512(in *float32, w, h int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, planes, outH, outW, pf int)
//
// MAX pooling; the mask byte of a window is the argmax's position in it,
// 3*row + column, 0xff for a window with no key above -FLT_MAX's (which
// then gives -FLT_MAX, as Caffe's empty windows do). A later row wins only
// when strictly greater, so the first maximum in row-major order does.
TEXT ·maxPool3x3s2PlAVX512(SB), NOSPLIT, $0-104
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ h+16(FP), R13
	MOVQ out+24(FP), DI
	MOVQ mask+32(FP), R8
	MOVQ noMax+40(FP), AX
	VPBROADCASTD AX, Z23
	MOVQ m1+48(FP), AX
	KMOVW AX, K1
	MOVQ m2+56(FP), AX
	KMOVW AX, K2
	MOVQ m3+64(FP), AX
	KMOVW AX, K3
	MOVQ planes+72(FP), R11
	MOVQ outH+80(FP), R12
	MOVQ outW+88(FP), R14
	MOVQ pf+96(FP), R15

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	VPTERNLOGD $0xff, Z31, Z31, Z31
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z21
	MOVL $1, AX
	VPBROADCASTD AX, Z26
	MOVL $2, AX
	VPBROADCASTD AX, Z27
	MOVL $3, AX
	VPBROADCASTD AX, Z24
	MOVL $6, AX
	VPBROADCASTD AX, Z25
	MOVL $0xff, AX
	VPBROADCASTD AX, Z22

	// R9: the last output row has no third input row (h = 2*outH).
	LEAQ (R12)(R12*1), AX
	XORQ R9, R9
	CMPQ AX, R13
	SETEQ R9
	MOVQ R13, DX
	IMULQ BX, DX
	SHLQ $2, DX              // plane stride in bytes
	SHLQ $2, BX              // row stride in bytes

	TESTQ R11, R11
	JLE  mpend
	TESTQ R12, R12
	JLE  mpend

mpplane:
	MOVQ SI, R10
	ROWK(R10, K1, K2, Z10, Z11)
	MOVQ R12, CX

mprow:
	ADDQ BX, R10
	ROWK(R10, K1, K2, Z12, Z13)
	ADDQ BX, R10
	THIRDMASKS(mpthird)
	ROWK(R10, K5, K6, Z14, Z15)

	VPADDD Z24, Z13, Z13     // middle row: positions 3-5
	VPCMPGTD Z10, Z12, K4
	VPMAXSD Z12, Z10, Z10
	VMOVDQA32 Z13, K4, Z11
	VPADDD Z25, Z15, Z16     // bottom row: positions 6-8
	VPCMPGTD Z10, Z14, K4
	VPMAXSD Z14, Z10, Z10
	VMOVDQA32 Z16, K4, Z11

	VPCMPGTD Z23, Z10, K4
	VMOVDQA32 Z23, Z17
	VMOVDQA32 Z10, K4, Z17
	VMOVDQA32 Z22, Z18
	VMOVDQA32 Z11, K4, Z18
	KEY(Z17, Z5)
	VMOVDQU32 Z17, K3, (DI)
	VPMOVDB Z18, K3, (R8)

	VMOVDQA32 Z14, Z10       // the bottom row is the next top row
	VMOVDQA32 Z15, Z11
	LEAQ (DI)(R14*4), DI
	ADDQ R14, R8
	DECQ CX
	JNZ  mprow

	ADDQ DX, SI
	DECQ R11
	JNZ  mpplane

mpend:
	VZEROUPPER
	RET

// SCATTER2 writes one input row from its even-column sums e and
// odd-column sums o (lane j: columns 2j and 2j+1) at p.
#define SCATTER2(p, e, o) \
	VMOVAPS e, Z2 \
	VPERMT2PS o, Z20, Z2 \
	VMOVAPS e, Z3 \
	VPERMT2PS o, Z21, Z3 \
	VMOVUPS Z2, K1, (p) \
	VMOVUPS Z3, K2, 64(p)

// PICK sets dst to the gradients (Z10) of the windows whose mask (Z11)
// is c, +0 elsewhere.
#define PICK(c, dst) \
	VPCMPEQD c, Z11, K4 \
	VMOVAPS.Z Z10, K4, dst

// UP shifts the lanes of x up by one into dst (lane 0: +0): window j-1's
// third column is column 2j.
#define UP(x, dst) \
	VALIGND $15, Z31, x, dst

// func maxUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, mask *uint8, m1, m2, m3 uint64, planes, outH, outW, pf int)
//
// The MAX backward pass for maxPool3x3s2PlAVX512's masks. A bottom
// element's gradient adds, to +0, its windows' gradients in the order of
// the windows (as Caffe's scatter loop does), the windows that did not
// pick it adding +0, which changes no sum that starts from +0: the bits
// are the loop's.
TEXT ·maxUnpool3x3s2PlAVX512(SB), NOSPLIT, $0-96
	MOVQ dIn+0(FP), DI
	MOVQ w+8(FP), BX
	MOVQ h+16(FP), R13
	MOVQ dOut+24(FP), SI
	MOVQ mask+32(FP), R8
	MOVQ m1+40(FP), AX
	KMOVW AX, K1
	MOVQ m2+48(FP), AX
	KMOVW AX, K2
	MOVQ m3+56(FP), AX
	KMOVW AX, K3
	MOVQ planes+64(FP), R11
	MOVQ outH+72(FP), R12
	MOVQ outW+80(FP), R14
	MOVQ pf+88(FP), R15

	VMOVDQU32 poolInterLo<>(SB), Z20
	VMOVDQU32 poolInterHi<>(SB), Z21
	VPXORD Z31, Z31, Z31
	VPXORD Z22, Z22, Z22
	MOVL $1, AX
	VPBROADCASTD AX, Z23
	MOVL $2, AX
	VPBROADCASTD AX, Z24
	MOVL $3, AX
	VPBROADCASTD AX, Z25
	MOVL $4, AX
	VPBROADCASTD AX, Z26
	MOVL $5, AX
	VPBROADCASTD AX, Z27
	MOVL $6, AX
	VPBROADCASTD AX, Z28
	MOVL $7, AX
	VPBROADCASTD AX, Z29
	MOVL $8, AX
	VPBROADCASTD AX, Z30

	// R9: a last input row below the last windows' middle rows.
	LEAQ (R12)(R12*1), AX
	XORQ R9, R9
	CMPQ AX, R13
	SETLT R9
	MOVQ R13, DX
	IMULQ BX, DX
	SHLQ $2, DX              // plane stride in bytes
	SHLQ $2, BX              // row stride in bytes

	TESTQ R11, R11
	JLE  muend
	TESTQ R12, R12
	JLE  muend

muplane:
	MOVQ DI, R10
	VPXORD Z16, Z16, Z16     // the previous windows' bottom row
	VPXORD Z17, Z17, Z17
	MOVQ R12, CX

murow:
	PREFETCHT0 (R10)(R15*1)
	PREFETCHT0 64(R10)(R15*1)
	PREFETCHT0 128(R10)(R15*1)
	PREFETCHT0 192(R10)(R15*1)
	VPMOVZXBD.Z (R8), K3, Z11
	VMOVUPS.Z (SI), K3, Z10

	// Input row 2y: the previous windows' bottom row, then these
	// windows' top row.
	PICK(Z24, Z0)
	UP(Z0, Z0)
	VADDPS Z0, Z16, Z16
	PICK(Z22, Z1)
	VADDPS Z1, Z16, Z16
	PICK(Z23, Z1)
	VADDPS Z1, Z17, Z17
	SCATTER2(R10, Z16, Z17)
	ADDQ BX, R10

	// Input row 2y+1: the middle row only.
	PICK(Z27, Z0)
	UP(Z0, Z0)
	VADDPS Z0, Z31, Z16
	PICK(Z25, Z1)
	VADDPS Z1, Z16, Z16
	PICK(Z26, Z1)
	VADDPS Z1, Z31, Z17
	SCATTER2(R10, Z16, Z17)
	ADDQ BX, R10

	// The bottom row, added to by the next windows.
	PICK(Z30, Z0)
	UP(Z0, Z0)
	VADDPS Z0, Z31, Z16
	PICK(Z28, Z1)
	VADDPS Z1, Z16, Z16
	PICK(Z29, Z1)
	VADDPS Z1, Z31, Z17

	LEAQ (SI)(R14*4), SI
	ADDQ R14, R8
	DECQ CX
	JNZ  murow

	TESTQ R9, R9
	JZ   munext
	SCATTER2(R10, Z16, Z17)

munext:
	ADDQ DX, DI
	DECQ R11
	JNZ  muplane

muend:
	VZEROUPPER
	RET

// ROWA loads an input row under ka, kb (zeros past them) as its even
// columns e, odd columns o and even columns from the third on, e2.
#define ROWA(p, ka, kb, e, o, e2) \
	PREFETCHT0 (p)(R15*1) \
	PREFETCHT0 64(p)(R15*1) \
	VMOVUPS.Z (p), ka, Z0 \
	VMOVUPS.Z 64(p), kb, Z1 \
	VMOVAPS Z0, e \
	VPERMT2PS Z1, Z28, e \
	VMOVAPS Z0, o \
	VPERMT2PS Z1, Z29, o \
	VALIGND $1, e, Z31, e2

// func avePool3x3s2PlAVX512(in *float32, w, h int, out *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int)
//
// AVE pooling: each window's nine elements added to +0 in row-major
// order, one add at a time (the scalar loop's rounding; the elements past
// the edge add +0, which changes no such sum), then divided by div, the
// outH×outW divisors of a plane.
TEXT ·avePool3x3s2PlAVX512(SB), NOSPLIT, $0-96
	MOVQ in+0(FP), SI
	MOVQ w+8(FP), BX
	MOVQ h+16(FP), R13
	MOVQ out+24(FP), DI
	MOVQ div+32(FP), R8
	MOVQ m1+40(FP), AX
	KMOVW AX, K1
	MOVQ m2+48(FP), AX
	KMOVW AX, K2
	MOVQ m3+56(FP), AX
	KMOVW AX, K3
	MOVQ planes+64(FP), R11
	MOVQ outH+72(FP), R12
	MOVQ outW+80(FP), R14
	MOVQ pf+88(FP), R15

	VMOVDQU32 poolEven<>(SB), Z28
	VMOVDQU32 poolOdd<>(SB), Z29
	VPXORD Z31, Z31, Z31

	LEAQ (R12)(R12*1), AX
	XORQ R9, R9
	CMPQ AX, R13
	SETEQ R9
	MOVQ R13, DX
	IMULQ BX, DX
	SHLQ $2, DX
	SHLQ $2, BX

	TESTQ R11, R11
	JLE  apend
	TESTQ R12, R12
	JLE  apend

applane:
	MOVQ SI, R10
	MOVQ R8, AX              // this plane's divisors
	ROWA(R10, K1, K2, Z10, Z11, Z12)
	MOVQ R12, CX

aprow:
	ADDQ BX, R10
	ROWA(R10, K1, K2, Z13, Z14, Z15)
	ADDQ BX, R10
	THIRDMASKS(apthird)
	ROWA(R10, K5, K6, Z16, Z17, Z18)

	VADDPS Z10, Z31, Z6
	VADDPS Z11, Z6, Z6
	VADDPS Z12, Z6, Z6
	VADDPS Z13, Z6, Z6
	VADDPS Z14, Z6, Z6
	VADDPS Z15, Z6, Z6
	VADDPS Z16, Z6, Z6
	VADDPS Z17, Z6, Z6
	VADDPS Z18, Z6, Z6
	VMOVUPS.Z (AX), K3, Z7
	VDIVPS Z7, Z6, K3, Z6
	VMOVUPS Z6, K3, (DI)

	VMOVAPS Z16, Z10
	VMOVAPS Z17, Z11
	VMOVAPS Z18, Z12
	LEAQ (DI)(R14*4), DI
	LEAQ (AX)(R14*4), AX
	DECQ CX
	JNZ  aprow

	ADDQ DX, SI
	DECQ R11
	JNZ  applane

apend:
	VZEROUPPER
	RET

// func aveUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int)
//
// The AVE backward pass: each window's gradient divided by its divisor,
// then added to +0 for every bottom element in the order of its windows,
// as the scalar loop does (see maxUnpool3x3s2PlAVX512).
TEXT ·aveUnpool3x3s2PlAVX512(SB), NOSPLIT, $0-96
	MOVQ dIn+0(FP), DI
	MOVQ w+8(FP), BX
	MOVQ h+16(FP), R13
	MOVQ dOut+24(FP), SI
	MOVQ div+32(FP), R8
	MOVQ m1+40(FP), AX
	KMOVW AX, K1
	MOVQ m2+48(FP), AX
	KMOVW AX, K2
	MOVQ m3+56(FP), AX
	KMOVW AX, K3
	MOVQ planes+64(FP), R11
	MOVQ outH+72(FP), R12
	MOVQ outW+80(FP), R14
	MOVQ pf+88(FP), R15

	VMOVDQU32 poolInterLo<>(SB), Z20
	VMOVDQU32 poolInterHi<>(SB), Z21
	VPXORD Z31, Z31, Z31

	LEAQ (R12)(R12*1), AX
	XORQ R9, R9
	CMPQ AX, R13
	SETLT R9
	MOVQ R13, DX
	IMULQ BX, DX
	SHLQ $2, DX
	SHLQ $2, BX

	TESTQ R11, R11
	JLE  auend
	TESTQ R12, R12
	JLE  auend

auplane:
	MOVQ DI, R10
	MOVQ R8, AX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	MOVQ R12, CX

aurow:
	PREFETCHT0 (R10)(R15*1)
	PREFETCHT0 64(R10)(R15*1)
	PREFETCHT0 128(R10)(R15*1)
	PREFETCHT0 192(R10)(R15*1)
	VMOVUPS.Z (SI), K3, Z10
	VMOVUPS.Z (AX), K3, Z11
	VDIVPS Z11, Z10, K3, Z10 // lanes past outW stay +0
	UP(Z10, Z0)

	// Input row 2y.
	VADDPS Z0, Z16, Z16
	VADDPS Z10, Z16, Z16
	VADDPS Z10, Z17, Z17
	SCATTER2(R10, Z16, Z17)
	ADDQ BX, R10

	// Input row 2y+1, and the start of row 2y+2: the same sums.
	VADDPS Z0, Z31, Z16
	VADDPS Z10, Z16, Z16
	VADDPS Z10, Z31, Z17
	SCATTER2(R10, Z16, Z17)
	ADDQ BX, R10

	LEAQ (SI)(R14*4), SI
	LEAQ (AX)(R14*4), AX
	DECQ CX
	JNZ  aurow

	TESTQ R9, R9
	JZ   aunext
	SCATTER2(R10, Z16, Z17)

aunext:
	ADDQ DX, DI
	DECQ R11
	JNZ  auplane

auend:
	VZEROUPPER
	RET
