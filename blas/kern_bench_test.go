package blas

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkMicroKernel measures one kernel set's micro-kernel alone on
// L1-resident packed panels (single thread): the ceiling of the driver.
func BenchmarkMicroKernel(b *testing.B) {
	for _, ks := range kernelSets {
		if ks.name == "go" {
			continue
		}
		const kc = 256
		ap := make([]float32, ks.mr*kc)
		bp := make([]float32, ks.nr*kc)
		c := make([]float32, ks.mr*ks.nr)
		for _, kern := range []struct {
			name string
			f    kernFn
			sa   uintptr
		}{{"packed", ks.kern, uintptr(ks.mr * 4)}, {"rowA", ks.kernR, kc * 4}, {"masked", maskedFull(ks), uintptr(ks.mr * 4)}} {
			if kern.f == nil {
				continue
			}
			b.Run(ks.name+"/"+kern.name, func(b *testing.B) {
				for b.Loop() {
					kern.f(kc, &ap[0], &bp[0], &c[0], kern.sa, uintptr(ks.nr*4), uintptr(ks.nr*4), 1, 1, 1<<ks.nr-1)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(2*float64(ks.mr*ks.nr*kc)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

func maskedFull(ks *kernelSet) kernFn {
	if ks.kt == nil {
		return nil
	}
	return ks.kt[ks.nr/16-1][0][ks.mr]
}

// BenchmarkSgemmAB runs LeNet's and CIFAR-10's per-image gemms single
// threaded with a driver switch off and on, interleaved over rounds so that
// a shared machine's load hits both alike: the ratio is the figure.
func BenchmarkSgemmAB(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	prev := Threads()
	SetThreads(1)
	defer SetThreads(prev)
	ks := kernelSets[0]
	for _, s := range benchShapes {
		if s.name == "1024cubed" || strings.HasSuffix(s.name, "_batch") {
			continue
		}
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		a, bb := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		call := func() { nativeSgemm(ks, s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) }
		for round := 0; round < 3; round++ {
			for _, on := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/on=%v", s.name, on), func(b *testing.B) {
					abSwitch(on)
					defer abSwitch(true)
					b.ReportMetric(bestGFLOPS(b, flops, call), "GFLOP/s")
				})
			}
		}
	}
}

// abSwitch turns the driver feature under test off or on.
func abSwitch(on bool) { balanceRows = on }
