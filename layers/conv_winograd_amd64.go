//go:build amd64 && !purego

package layers

import "golang.org/x/sys/cpu"

// winoAVX512 says whether the Winograd transform kernel can run.
var winoAVX512 = cpu.X86.HasAVX512F

// winoXformAVX512 computes dst = T X Tᵀ (accum: dst += T X Tᵀ) for nvec
// 16-lane vectors of p×p tiles (conv_winograd_amd64.s); strides in bytes.
//
//go:noescape
func winoXformAVX512(src *float32, srs, scs int, dst *float32, drs, dcs int, t *float32, p, r, nvec, accum int, tmp *float32)

// The F(4x4,5x5) kernels with each matrix's structure written out:
// winoBtAVX512 (Bᵀ X B), winoAtAVX512 (Aᵀ X A), winoAAVX512 (A X Aᵀ) and
// winoBAVX512 (dst += B X Bᵀ); c points at the matrix's constants.

//go:noescape
func winoBtAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32)

//go:noescape
func winoAtAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32)

//go:noescape
func winoAAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32)

//go:noescape
func winoBAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32)

// winoTransposeAVX512 writes the transpose of a rows×cols block (both
// 1..16) with bias[j] added to output row j; strides in bytes.
//
//go:noescape
func winoTransposeAVX512(src *float32, srcStride int, dst *float32, dstStride int, rows, cols int, bias *float32)
