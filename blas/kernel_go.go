package blas

import "unsafe"

// The portable Go kernels: the same packed-panel contract as the assembly
// ones with a 4×8 tile, used on other architectures, with the purego tag,
// or when the CPU lacks AVX2+FMA.

const goMR, goNR = 4, 8

func goKernels() *kernelSet {
	return &kernelSet{
		name: "go", mr: goMR, nr: goNR, lanes: 1, kc: 256, mc: 128, nc: 2048,
		kern: kernGo, kernR: kernRGo, peak: peakGo, peakFlops: 16 * 2,
	}
}

func at(p *float32, off uintptr) float32 { return *(*float32)(unsafe.Add(unsafe.Pointer(p), off)) }

func kernGo(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, _ uint64) {
	var acc [goMR][goNR]float32
	for p := 0; p < k; p++ {
		bp := (*[goNR]float32)(unsafe.Add(unsafe.Pointer(b), uintptr(p)*sb))
		ap := (*[goMR]float32)(unsafe.Add(unsafe.Pointer(a), uintptr(p)*sa))
		for r := 0; r < goMR; r++ {
			ar := ap[r]
			row := &acc[r]
			for j := 0; j < goNR; j++ {
				row[j] += ar * bp[j]
			}
		}
	}
	storeGo(&acc, c, ldc, alpha, beta)
}

func kernRGo(k int, a, b, c *float32, sa, sb, ldc uintptr, alpha, beta float32, _ uint64) {
	var acc [goMR][goNR]float32
	for p := 0; p < k; p++ {
		bp := (*[goNR]float32)(unsafe.Add(unsafe.Pointer(b), uintptr(p)*sb))
		for r := 0; r < goMR; r++ {
			ar := at(a, uintptr(r)*sa+uintptr(p)*4)
			row := &acc[r]
			for j := 0; j < goNR; j++ {
				row[j] += ar * bp[j]
			}
		}
	}
	storeGo(&acc, c, ldc, alpha, beta)
}

func storeGo(acc *[goMR][goNR]float32, c *float32, ldc uintptr, alpha, beta float32) {
	for r := 0; r < goMR; r++ {
		crow := (*[goNR]float32)(unsafe.Add(unsafe.Pointer(c), uintptr(r)*ldc))
		for j := 0; j < goNR; j++ {
			v := alpha * acc[r][j]
			if beta != 0 {
				v += beta * crow[j]
			}
			crow[j] = v
		}
	}
}

var peakSink float32

// peakGo is the portable stand-in for the FMA-peak loop: 16 independent
// multiply-add chains.
func peakGo(n int) {
	var s [16]float32
	x, y := float32(1.0000001), float32(1e-7)
	for i := 0; i < n; i++ {
		for j := range s {
			s[j] = s[j]*x + y
		}
	}
	peakSink = s[0]
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

func scalGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
