package layers

import (
	"math"
	"math/rand"
	"testing"
)

// The fast backward forms (transposed weight-gradient gemm, bottom
// gradient as a convolution of the top gradient) against the plain
// im2col/gemm/col2im form, on geometries that take them (and
// asymmetric kernels and padding), single- and multi-threaded. Sums are
// ordered differently, so the match is to rounding, not to the bit.
func TestConvolutionFastBackwardMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	cases := []struct {
		name, param string
		shape       []int
		dwt, direct bool // the forms the geometry must take
	}{
		{"cifar-like 5x5 pad2", `num_output: 16 kernel_size: 5 pad: 2`, []int{5, 16, 8, 8}, true, true},
		{"strided", `num_output: 16 kernel_size: 3 pad: 1 stride: 2`, []int{3, 16, 7, 7}, true, false},
		{"short columns", `num_output: 32 kernel_size: 3 pad: 1`, []int{3, 4, 6, 6}, false, false},
		{"narrowing 3x3 pad0", `num_output: 16 kernel_size: 3`, []int{3, 32, 7, 7}, true, true},
		{"asymmetric", `num_output: 16 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0`, []int{3, 24, 6, 7}, true, true},
		{"odd outputs", `num_output: 5 kernel_size: 3 pad: 1`, []int{4, 9, 5, 6}, false, true},
	}
	defer func() { convUseDWT, convUseDirect = true, true }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := convLayerText("c", c.param)
			bottom := []*Blob{randBlob(rng, "x", c.shape...)}
			convUseDWT, convUseDirect = false, false
			t0, b0, p0 := runLayerOnce(t, text, 1, bottom, 3, 1)
			convUseDWT, convUseDirect = true, true
			l := buildThreaded(t, text, 1).(*Convolution)
			if err := l.Setup([]*Blob{NewBlob(c.shape...)}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
			if l.dwT != c.dwt || l.direct != c.direct {
				t.Fatalf("forms taken: dwT %v direct %v, want %v %v", l.dwT, l.direct, c.dwt, c.direct)
			}
			for _, procs := range []int{1, 2} {
				var t1, b1, p1 [][]float32
				withProcs(max(procs, 1), func() { t1, b1, p1 = runLayerOnce(t, text, procs, bottom, 3, 1) })
				for what, pair := range map[string][2][][]float32{"top": {t0, t1}, "bottom diff": {b0, b1}, "param diff": {p0, p1}} {
					for i := range pair[0] {
						for j, want := range pair[0][i] {
							got := pair[1][i][j]
							if d := math.Abs(float64(got - want)); d > 1e-4*(1+math.Abs(float64(want))) || math.IsNaN(float64(got)) {
								t.Fatalf("%d threads: %s %d elem %d: %v, plain form %v", procs, what, i, j, got, want)
							}
						}
					}
				}
			}
		})
	}
}

// BenchmarkGemmLayers times Forward and Backward separately on LeNet's and
// CIFAR-10 quick's gemm-heavy layers (all threads), reporting GFLOP/s of
// the layer's arithmetic.
func BenchmarkGemmLayers(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name, text string
		shape      []int
		flops      float64 // forward; backward is twice
	}{
		{"lenet/conv2", `name: "c" type: "Convolution" convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{64, 20, 12, 12}, 2 * 64 * 50 * 500 * 64},
		{"lenet/ip1", `name: "i" type: "InnerProduct" inner_product_param { num_output: 500 weight_filler { type: "xavier" } }`, []int{64, 50, 4, 4}, 2 * 64 * 500 * 800},
		{"cifar/conv2", `name: "c" type: "Convolution" convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 16, 16}, 2 * 100 * 32 * 800 * 256},
		{"cifar/conv3", `name: "c" type: "Convolution" convolution_param { num_output: 64 pad: 2 kernel_size: 5 weight_filler { type: "xavier" } }`, []int{100, 32, 8, 8}, 2 * 100 * 64 * 800 * 64},
	} {
		l := buildThreaded(b, c.text, 0)
		x := randBlob(rng, "x", c.shape...)
		top := &Blob{}
		if err := l.Setup([]*Blob{x}, []*Blob{top}); err != nil {
			b.Fatal(err)
		}
		for i := range top.Diff {
			top.Diff[i] = float32(rng.NormFloat64())
		}
		pd := []bool{true}
		b.Run(c.name+"/fwd", func(b *testing.B) {
			for b.Loop() {
				if err := l.Forward([]*Blob{x}, []*Blob{top}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(c.flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(c.name+"/bwd", func(b *testing.B) {
			for b.Loop() {
				l.Backward([]*Blob{top}, pd, []*Blob{x})
			}
			b.ReportMetric(2*c.flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
