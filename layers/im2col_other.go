//go:build !amd64 || purego

package layers

// im2colAVX is false: only amd64 has the assembly kernels.
var im2colAVX = false

func im2colPlaneAVX(col, plane *float32, ld, wp, kh, kw, oh, ow int) {
	panic("layers: no AVX im2col kernel on this platform")
}

func col2imPlaneAVX(plane, col *float32, wp, kh, kw, oh, ow int) {
	panic("layers: no AVX col2im kernel on this platform")
}

func addBiasRowsAVX(out, bias *float32, rows, cols int) {
	panic("layers: no AVX bias kernel on this platform")
}

func copyRowsAVX(dst, src *float32, n, w, dstStride, srcStride int) {
	panic("layers: no AVX copy kernel on this platform")
}

func sum8AVX(v *float32, n int) float32 {
	panic("layers: no AVX sum kernel on this platform")
}

func addToAVX(dst, src *float32, n int) {
	panic("layers: no AVX add kernel on this platform")
}
