package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// naiveMaxUnpool is Caffe's MAX backward loop: clear, then each top
// gradient added at its argmax, in top order.
func naiveMaxUnpool(dOut []float32, mask []int32, c, h, w, oh, ow int) []float32 {
	dIn := make([]float32, c*h*w)
	for p := 0; p < c; p++ {
		for i := 0; i < oh*ow; i++ {
			if m := mask[p*oh*ow+i]; m >= 0 {
				dIn[p*h*w+int(m)] += dOut[p*oh*ow+i]
			}
		}
	}
	return dIn
}

// The whole-plane 3x3 stride-2 kernels against Caffe's plain loops, to
// the bit, forward (with the index top) and backward, MAX and AVE, on
// every plane size from 3x3 to 33x33 with odd and even sides (ceil-mode
// clipped last rows and columns; floor mode leaves a row and column
// outside the windows on odd sides), with ties, -FLT_MAX and -Inf
// windows and signed-zero gradients. The sizes the kernels take must
// take them: the test fails if plane3x3s2 refuses one.
func TestPool3x3s2PlaneMatchesNaive(t *testing.T) {
	if !poolAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewSource(41))
	vals := []float32{-2, -0.5, 0, 0, 1, 1, 3, -math.MaxFloat32, float32(math.Inf(-1))}
	for _, floor := range []bool{false, true} {
		for h := 3; h <= 33; h += 1 + h/9 {
			for w := 3; w <= 33; w++ {
				for _, method := range []string{"MAX", "AVE"} {
					round := ""
					if floor {
						round = " round_mode: FLOOR"
					}
					text := fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: %s kernel_size: 3 stride: 2%s }`, method, round)
					l := buildThreaded(t, text, 1).(*Pooling)
					x := NewBlob(2, 3, h, w)
					tops := []*Blob{{}}
					if method == "MAX" {
						tops = append(tops, &Blob{})
					}
					if err := l.Setup([]*Blob{x}, tops); err != nil {
						t.Fatal(err)
					}
					oh, ow := l.outH, l.outW
					want := w <= 32 && h <= 2*oh+1 && w <= 2*ow+1
					if l.plane3x3s2() != want {
						t.Fatalf("%s %dx%d floor %v: plane3x3s2 = %v, want %v", method, h, w, floor, !want, want)
					}
					for fill := 0; fill < 4; fill++ {
						poolFill(x.Data, h, w, fill, vals, rng)
						for i := range x.Diff {
							x.Diff[i] = float32(math.NaN()) // must be overwritten
						}
						if err := l.Forward([]*Blob{x}, tops); err != nil {
							t.Fatal(err)
						}
						for i := range tops[0].Diff {
							tops[0].Diff[i] = float32(rng.NormFloat64())
							if i%5 == 0 {
								tops[0].Diff[i] = float32(math.Copysign(0, -1))
							}
						}
						l.Backward(tops, []bool{true}, []*Blob{x})
						name := fmt.Sprintf("%s %dx%d floor %v fill %d", method, h, w, floor, fill)
						var wantOut, wantDiff []float32
						if method == "MAX" {
							var wantMask []int32
							wantOut, wantMask = naiveMaxPool(x.Data, 6, h, w, 3, 3, 2, 2, 0, 0, oh, ow)
							for i, m := range wantMask {
								if tops[1].Data[i] != float32(m) {
									t.Fatalf("%s: index top %d: got %g, want %d", name, i, tops[1].Data[i], m)
								}
							}
							wantDiff = naiveMaxUnpool(tops[0].Diff, wantMask, 6, h, w, oh, ow)
						} else {
							wantOut, wantDiff = naiveAvePool(x.Data, tops[0].Diff, 6, h, w, 3, 3, 2, 2, 0, 0, oh, ow)
						}
						if i, j, ok := sameBits([][]float32{wantOut}, [][]float32{tops[0].Data}); !ok {
							t.Fatalf("%s: top %d,%d: got %g, want %g", name, i, j, tops[0].Data[j], wantOut[j])
						}
						if i, j, ok := sameBits([][]float32{wantDiff}, [][]float32{x.Diff}); !ok {
							t.Fatalf("%s: bottom diff %d,%d: got %g, want %g", name, i, j, x.Diff[j], wantDiff[j])
						}
					}
				}
			}
		}
	}
}

// CIFAR-10 quick's pooling layers.
var cifarPools = []struct {
	name, method string
	shape        []int
}{
	{"pool1", "MAX", []int{100, 32, 32, 32}},
	{"pool2", "AVE", []int{100, 32, 16, 16}},
	{"pool3", "AVE", []int{100, 64, 8, 8}},
}

// The whole-plane kernels split over threads by blocks of planes: the
// same bits as on one thread and as the per-row paths (run with -race).
func TestPool3x3s2PlaneThreads(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	defer func() { poolPlane3x3 = true }()
	for _, c := range cifarPools {
		shape := append([]int{9}, c.shape[1:]...) // big enough for several threads
		x := randBlob(rng, "x", shape...)
		nTop := 1
		if c.method == "MAX" {
			nTop = 2
		}
		text := fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: %s kernel_size: 3 stride: 2 }`, c.method)
		poolPlane3x3 = false
		want, wantB, _ := runLayerOnce(t, text, 1, []*Blob{x}, 12, nTop)
		poolPlane3x3 = true
		for _, procs := range []int{1, 2, 3} {
			var got, gotB [][]float32
			withProcs(procs, func() { got, gotB, _ = runLayerOnce(t, text, procs, []*Blob{x}, 12, nTop) })
			if i, j, ok := sameBits(want, got); !ok {
				t.Fatalf("%s %d threads: top %d differs at %d", c.name, procs, i, j)
			}
			if i, j, ok := sameBits(wantB, gotB); !ok {
				t.Fatalf("%s %d threads: bottom diff %d differs at %d", c.name, procs, i, j)
			}
		}
	}
}

// A warmed-up Reshape, Forward and Backward allocate nothing, on the
// layer's threads.
func TestPool3x3s2PlaneAllocs(t *testing.T) {
	rng := rand.New(rand.NewSource(43))
	for _, c := range cifarPools {
		x := randBlob(rng, "x", append([]int{4}, c.shape[1:]...)...)
		l := buildThreaded(t, fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: %s kernel_size: 3 stride: 2 }`, c.method), 0)
		bottom, top, pd := []*Blob{x}, []*Blob{{}}, []bool{true}
		if c.method == "MAX" {
			top = append(top, &Blob{}) // the index top too
		}
		if err := l.Setup(bottom, top); err != nil {
			t.Fatal(err)
		}
		step := func() {
			if err := l.Reshape(bottom, top); err != nil {
				t.Fatal(err)
			}
			if err := l.Forward(bottom, top); err != nil {
				t.Fatal(err)
			}
			l.Backward(top, pd, bottom)
		}
		step()
		if n := testing.AllocsPerRun(20, step); n != 0 {
			t.Errorf("%s: %v allocations per Reshape+Forward+Backward", c.name, n)
		}
	}
}

// CIFAR-10 quick's pooling layers, the whole-plane kernels (plane) A/B
// against the per-row paths (row), alternating in one run.
func BenchmarkPool3x3s2Cifar(b *testing.B) {
	rng := rand.New(rand.NewSource(44))
	defer func() { poolPlane3x3 = true }()
	for _, c := range cifarPools {
		x := randBlob(rng, "x", c.shape...)
		l := buildThreaded(b, fmt.Sprintf(`name: "p" type: "Pooling" pooling_param { pool: %s kernel_size: 3 stride: 2 }`, c.method), 0)
		top := []*Blob{{}}
		if err := l.Setup([]*Blob{x}, top); err != nil {
			b.Fatal(err)
		}
		FillGaussian(rng, 1, top[0].Diff)
		for _, plane := range []bool{false, true} {
			mode := map[bool]string{false: "row", true: "plane"}[plane]
			b.Run(c.name+"/fwd/"+mode, func(b *testing.B) {
				poolPlane3x3 = plane
				for i := 0; i < b.N; i++ {
					l.Forward([]*Blob{x}, top)
				}
			})
			b.Run(c.name+"/bwd/"+mode, func(b *testing.B) {
				poolPlane3x3 = plane
				l.Forward([]*Blob{x}, top)
				for i := 0; i < b.N; i++ {
					l.Backward(top, []bool{true}, []*Blob{x})
				}
			})
		}
	}
}
