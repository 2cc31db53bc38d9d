//go:build amd64 && !purego

package layers

import "golang.org/x/sys/cpu"

// im2colAVX says whether the AVX im2col/col2im plane kernels can run.
var im2colAVX = cpu.X86.HasAVX

// im2colPlaneAVX copies every kernel offset's window of one padded plane
// into rows of the column matrix (im2col_amd64.s).
//
//go:noescape
func im2colPlaneAVX(col, plane *float32, ld, wp, kh, kw, oh, ow int)

// col2imPlaneAVX adds the column-matrix rows of one plane back into it.
//
//go:noescape
func col2imPlaneAVX(plane, col *float32, wp, kh, kw, oh, ow int)

// addBiasRowsAVX adds bias[r] to every element of row r of out.
//
//go:noescape
func addBiasRowsAVX(out, bias *float32, rows, cols int)

// copyRowsAVX copies n rows of w floats between strided layouts.
//
//go:noescape
func copyRowsAVX(dst, src *float32, n, w, dstStride, srcStride int)

// sum8AVX is sum32 for lengths that are a multiple of 8, vectorised.
//
//go:noescape
func sum8AVX(v *float32, n int) float32

// addToAVX adds src into dst, n floats (a multiple of 8).
//
//go:noescape
func addToAVX(dst, src *float32, n int)
