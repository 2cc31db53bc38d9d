//go:build !amd64 || purego

package layers

// winoAVX512 is false: only amd64 has the transform kernel, so the
// im2col path always runs.
var winoAVX512 = false

func winoXformAVX512(src *float32, srs, scs int, dst *float32, drs, dcs int, t *float32, p, r, nvec, accum int, tmp *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}

func winoBtAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}

func winoAtAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}

func winoAAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}

func winoBAVX512(src *float32, srs, scs int, dst *float32, drs, dcs, nvec int, tmp *float32, c *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}

func winoTransposeAVX512(src *float32, srcStride int, dst *float32, dstStride int, rows, cols int, bias *float32) {
	panic("layers: no AVX-512 Winograd kernel on this platform")
}
