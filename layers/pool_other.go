//go:build !amd64 || purego

package layers

// poolAVX512 is false: only amd64 has the assembly kernel.
var poolAVX512 = false

func maxPool3x3s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, rows, ny, outStride int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxPool2x2s2AVX512(in *float32, w int, out *float32, mask *int32, base, noMax int, m1, m2, m3 uint64, ny, outStride, planeRows int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxUnpool2x2s2AVX512(dIn *float32, w int, dOut *float32, mask *int32, m1, m2, m3 uint64, ny, outStride, planeRows int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxPool2x2s2BAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, ny, outStride, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxUnpool2x2s2BAVX512(dIn *float32, w int, dOut *float32, mask *uint8, m1, m2, m3 uint64, ny, outStride, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxPool2x2s2PAVX512(in *float32, w int, out *float32, mask *uint8, noMax int, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxUnpool2x2s2PAVX512(dIn *float32, w int, dOut *float32, mask *uint8, kLo, kHi, kOut, kCnt uint64, off1, off2, off3, groups, inStep, outStep, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxPool3x3s2PlAVX512(in *float32, w, h int, out *float32, mask *uint8, noMax int, m1, m2, m3 uint64, planes, outH, outW, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func maxUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, mask *uint8, m1, m2, m3 uint64, planes, outH, outW, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func avePool3x3s2PlAVX512(in *float32, w, h int, out *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}

func aveUnpool3x3s2PlAVX512(dIn *float32, w, h int, dOut *float32, div *float32, m1, m2, m3 uint64, planes, outH, outW, pf int) {
	panic("layers: no AVX-512 pooling kernel on this platform")
}
