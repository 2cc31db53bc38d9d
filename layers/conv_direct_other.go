//go:build !amd64 || purego

package layers

// convDirectAVX512 is false: only amd64 has the direct kernels, so the
// gemm path always runs.
var convDirectAVX512 = false

func convDirectFwdAVX512(s *float32, offs *int, taps int, w *float32, wStride int, bias *float32, out *float32, outStride int, pf *float32) {
	panic("layers: no AVX-512 direct convolution kernel on this platform")
}

func convDirectDWAVX512(s *float32, offs *int, dOut *float32, dStride int, nvec int, tail uint64, acc *float32, pf *float32) {
	panic("layers: no AVX-512 direct convolution kernel on this platform")
}

func convDirectCopyRowsAVX512(dst, src *float32, rows, n, dstStride, srcStride int) {
	panic("layers: no AVX-512 direct convolution kernel on this platform")
}
