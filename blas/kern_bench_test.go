package blas

import (
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
