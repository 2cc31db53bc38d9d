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
// Z30 = 0x7fffffff and tmp.
#define KEY(z, tmp) \
	VPSRAD $31, z, tmp \
	VPANDD Z30, tmp, tmp \
	VPXORD tmp, z, z

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

// func maxPool2x2s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, ny, outStride int)
//
// maxPool3x3s2AVX512 for n <= 16 whole 2x2 stride-2 windows per output
// row (columns [0, 2n) under masks m1 and m2), ny output rows.
TEXT ·maxPool2x2s2AVX512(SB), NOSPLIT, $0-88
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
	DECQ R11
	JNZ  loop2

end2:
	VZEROUPPER
	RET
