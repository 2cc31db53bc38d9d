package solver

import (
	"math"
	"math/rand"
	"runtime"
	"testing"
)

// The chunked, pooled update must give the bits of one serial
// applyUpdate per param, whatever the thread count: the update is
// element-wise, so the split cannot change a result.
func TestParallelUpdateMatchesSerial(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	sizes := []int{500, 20, 25000, 50, 400000, 500, 5000, 10, updChunkLen + 3}
	for m := SGD; m <= Adam; m++ {
		t.Run(m.String(), func(t *testing.T) {
			type state struct{ data, diff, h1, h2 [][]float32 }
			mk := func() state {
				r := rand.New(rand.NewSource(int64(m)))
				var s state
				for _, n := range sizes {
					v := func() []float32 {
						x := make([]float32, n)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						return x
					}
					h1, h2 := v(), v()
					for i := range h1 { // AdaGrad/RMSProp/AdaDelta/Adam need h >= 0
						h1[i], h2[i] = h1[i]*h1[i], h2[i]*h2[i]
					}
					s.data, s.diff, s.h1, s.h2 = append(s.data, v()), append(s.diff, v()), append(s.h1, h1), append(s.h2, h2)
				}
				return s
			}
			u := updateParams{method: m, momentum: 0.9, momentum2: 0.999, delta: 1e-6, rmsDecay: 0.95,
				clipScale: 1, accumScale: 1, localRate: 0.01}
			ref := mk()
			for i := range sizes {
				uu := u
				uu.reg, uu.localDecay = regKind(i%3), 0.0005
				applyUpdate(&uu, ref.data[i], ref.diff[i], ref.h1[i], ref.h2[i])
			}
			for _, threads := range []int{1, 2, 3} {
				var pu parallelUpdate
				got := mk()
				for step := 0; step < 2; step++ { // the second step reuses the chunk list
					if step == 1 {
						got = mk()
					}
					pu.prepare(len(sizes))
					for i := range sizes {
						uu := u
						uu.reg, uu.localDecay = regKind(i%3), 0.0005
						pu.add(i, &uu, got.data[i], got.diff[i], got.h1[i], got.h2[i])
					}
					pu.run(threads)
				}
				for i := range sizes {
					for _, pair := range [][2][]float32{{ref.data[i], got.data[i]}, {ref.diff[i], got.diff[i]}, {ref.h1[i], got.h1[i]}, {ref.h2[i], got.h2[i]}} {
						for j := range pair[0] {
							if math.Float32bits(pair[0][j]) != math.Float32bits(pair[1][j]) {
								t.Fatalf("%d threads: param %d elem %d: %v, serial %v", threads, i, j, pair[1][j], pair[0][j])
							}
						}
					}
				}
			}
		})
	}
}
