package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"
)

// benchShapes are the gemms of LeNet (batch 64) and CIFAR-10 quick as
// Caffe's layers call them (per image for convolutions), plus 1024³ and the
// whole-batch convolution forms.
var benchShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"1024cubed", false, false, 1024, 1024, 1024},
	{"conv1_fwd", false, false, 20, 576, 25},
	{"conv1_wgrad", false, true, 20, 25, 576},
	{"conv1_dgrad", true, false, 25, 576, 20},
	{"conv2_fwd", false, false, 50, 64, 500},
	{"conv2_wgrad", false, true, 50, 500, 64},
	{"conv2_dgrad", true, false, 500, 64, 50},
	{"ip1_fwd", false, true, 64, 500, 800},
	{"ip1_fwd_nn", false, false, 64, 500, 800},
	{"ip1_wgrad", true, false, 500, 800, 64},
	{"ip1_dgrad", false, false, 64, 800, 500},
	{"ip2_fwd", false, true, 64, 10, 500},
	{"ip2_fwd_nn", false, false, 64, 10, 500},
	{"ip2_wgrad", true, false, 10, 500, 64},
	{"ip2_dgrad", false, false, 64, 500, 10},
	// CIFAR-10 quick (batch 100), per image.
	{"c10_conv1_fwd", false, false, 32, 1024, 75},
	{"c10_conv1_wgrad", false, true, 32, 75, 1024},
	{"c10_conv2_fwd", false, false, 32, 256, 800},
	{"c10_conv2_wgrad", false, true, 32, 800, 256},
	{"c10_conv2_dgrad", true, false, 800, 256, 32},
	{"c10_conv3_fwd", false, false, 64, 64, 800},
	{"c10_conv3_wgrad", false, true, 64, 800, 64},
	{"c10_conv3_dgrad", true, false, 800, 64, 64},
	{"conv1_fwd_batch", false, false, 20, 64 * 576, 25},
	{"conv2_fwd_batch", false, false, 50, 64 * 64, 500},
	{"conv2_wgrad_batch", false, true, 50, 500, 64 * 64},
}

type benchImpl struct {
	name string
	f    func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

func benchImpls() []benchImpl {
	impls := []benchImpl{}
	for _, ks := range kernelSets {
		if ks.name == "go" {
			continue
		}
		impls = append(impls, benchImpl{"native-" + ks.name, func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			nativeSgemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	for _, ks := range kernelSets {
		if ks.name == "go" || os.Getenv("COS_BENCH_1T") == "" {
			continue
		}
		impls = append(impls, benchImpl{"native-" + ks.name + "-1t", func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			t := Threads()
			SetThreads(1)
			nativeSgemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			SetThreads(t)
		}})
	}
	if ks := kernelSets[0]; ks.name != "go" && os.Getenv("COS_BENCH_MODES") != "" {
		// Tuning aid: the forced pack / direct drivers, single thread.
		for _, mode := range []int{modePack, modeDirect} {
			c := *ks
			c.mode = mode
			impls = append(impls, benchImpl{fmt.Sprintf("mode%d-1t", mode), func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c_ []float32, ldc int) {
				t := Threads()
				SetThreads(1)
				nativeSgemm(&c, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c_, ldc)
				SetThreads(t)
			}})
		}
	}
	impls = append(impls, benchImpl{"gonum", refSgemm})
	if openblasBuilt {
		impls = append(impls, benchImpl{"openblas", openblasSgemm})
	}
	return impls
}

// BenchmarkSgemm reports GFLOP/s (2mnk per call) per shape and
// implementation. Threads: SetThreads default (GOMAXPROCS); OpenBLAS uses
// OPENBLAS_NUM_THREADS.
func BenchmarkSgemm(b *testing.B) {
	if openblasBuilt {
		fmt.Fprintf(os.Stderr, "openblas core: %s (OPENBLAS_CORETYPE=%q)\n", OpenBLASCore(), os.Getenv("OPENBLAS_CORETYPE"))
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, s := range benchShapes {
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		a, bb := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, im := range benchImpls() {
			b.Run(s.name+"/"+im.name, func(b *testing.B) {
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
				call := func() { im.f(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) }
				b.ReportMetric(bestGFLOPS(b, flops, call), "GFLOP/s")
			})
		}
	}
}

// bestGFLOPS times call in batches of about 50µs and returns the rate of
// the fastest batch: on a shared machine the least-disturbed batch is the
// one that measures the code rather than the neighbours.
func bestGFLOPS(b *testing.B, flops float64, call func()) float64 {
	call()
	calls := max(1, int(50e-6*200e9/flops))
	best := math.Inf(1)
	for b.Loop() {
		t0 := time.Now()
		for i := 0; i < calls; i++ {
			call()
		}
		best = min(best, time.Since(t0).Seconds()/float64(calls))
	}
	return flops / best / 1e9
}

// BenchmarkFMAPeak runs the register-only FMA loop of each kernel set on
// Threads() goroutines at once and reports the aggregate GFLOP/s.
func BenchmarkFMAPeak(b *testing.B) {
	for _, ks := range kernelSets {
		b.Run(ks.name, func(b *testing.B) {
			const iters = 1 << 16
			flops := float64(Threads()) * iters * float64(ks.peakFlops)
			b.ReportMetric(bestGFLOPS(b, flops, func() {
				var wg sync.WaitGroup
				for t := 0; t < Threads(); t++ {
					wg.Add(1)
					go func() { defer wg.Done(); ks.peak(iters) }()
				}
				wg.Wait()
			}), "GFLOP/s")
		})
	}
}

// BenchmarkLevel1 reports GFLOP/s of dot, axpy and gemv (500×800, both
// transposes: the inner-product bias and vector products) per kernel set
// and for the reference.
func BenchmarkLevel1(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, gm, gn = 4096, 500, 800
	x, y := randSlice(r, n), randSlice(r, n)
	a, gx, gy := randSlice(r, gm*gn), randSlice(r, gn), randSlice(r, gn)
	type impl struct {
		name string
		dot  func()
		axpy func()
		gemv func(tr bool)
	}
	var impls []impl
	for _, ks := range kernelSets {
		impls = append(impls, impl{ks.name,
			func() { nativeDot(ks, x, y) },
			func() { nativeAxpy(ks, 1e-9, x, y) },
			func(tr bool) { nativeGemv(ks, tr, gm, gn, 1, a, gx, 0, gy) }})
	}
	impls = append(impls, impl{"ref",
		func() { refDot(n, x, y) },
		func() { refAxpy(n, 1e-9, x, y) },
		func(tr bool) { refGemv(tr, gm, gn, 1, a, gx, 0, gy) }})
	for _, im := range impls {
		b.Run("dot/"+im.name, func(b *testing.B) { b.ReportMetric(bestGFLOPS(b, 2*n, im.dot), "GFLOP/s") })
		b.Run("axpy/"+im.name, func(b *testing.B) { b.ReportMetric(bestGFLOPS(b, 2*n, im.axpy), "GFLOP/s") })
		for _, tr := range []bool{false, true} {
			b.Run(fmt.Sprintf("gemv_trans=%v/%s", tr, im.name), func(b *testing.B) {
				b.ReportMetric(bestGFLOPS(b, 2*gm*gn, func() { im.gemv(tr) }), "GFLOP/s")
			})
		}
	}
}
