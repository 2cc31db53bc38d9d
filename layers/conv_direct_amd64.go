//go:build amd64 && !purego

package layers

import "golang.org/x/sys/cpu"

// convDirectAVX512 says whether the direct convolution kernels can run.
var convDirectAVX512 = cpu.X86.HasAVX512F

// convDirectFwdAVX512 computes a 4-channel × 96-position block of the
// direct convolution (conv_direct_amd64.s).
//
//go:noescape
func convDirectFwdAVX512(s *float32, offs *int, taps int, w *float32, wStride int, bias *float32, out *float32, outStride int, pf *float32)

// convDirectDWAVX512 adds one image's 4-channel × 5-tap block of the
// weight gradient into 20 vectors of partial sums.
//
//go:noescape
func convDirectDWAVX512(s *float32, offs *int, dOut *float32, dStride int, nvec int, tail uint64, acc *float32, pf *float32)

// convDirectCopyRowsAVX512 copies rows of n floats between strided
// layouts (any n >= 1).
//
//go:noescape
func convDirectCopyRowsAVX512(dst, src *float32, rows, n, dstStride, srcStride int)
