//go:build !amd64 || purego

package solver

// updateAVX512 is false: only amd64 has the vector update, so the scalar
// loops always run.
var updateAVX512 = false

func momentumUpdateAVX512(data, diff, h1 *float32, n, mode int, cs, as, dec, lr, mom, onePlus, negMom float32) {
	panic("solver: no AVX-512 update kernel on this platform")
}
