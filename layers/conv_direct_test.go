package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// runConvNoBottomDiff is runLayerOnce for a convolution whose bottom needs
// no gradient (the case the direct backward takes): it returns the top
// data and the param diffs (which start at 0.5: they accumulate).
func runConvNoBottomDiff(tb testing.TB, text string, threads int, x *Blob) (top, pdiffs [][]float32, direct bool) {
	tb.Helper()
	l := buildThreaded(tb, text, threads).(*Convolution)
	b := NewBlob(x.Shape()...)
	copy(b.Data, x.Data)
	tops := []*Blob{{}}
	if err := l.Setup([]*Blob{b}, tops); err != nil {
		tb.Fatal(err)
	}
	for _, p := range l.Params() {
		for j := range p.Diff {
			p.Diff[j] = 0.5
		}
	}
	for k := 0; k < 2; k++ {
		for j := range tops[0].Data {
			tops[0].Data[j] = float32(math.NaN()) // Forward must write every output
		}
		if err := l.Forward([]*Blob{b}, tops); err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(21))
	for j := range tops[0].Diff {
		tops[0].Diff[j] = float32(rng.NormFloat64())
	}
	l.Backward(tops, []bool{false}, []*Blob{b})
	top = [][]float32{append([]float32(nil), tops[0].Data...)}
	for _, p := range l.Params() {
		pdiffs = append(pdiffs, append([]float32(nil), p.Diff...))
	}
	return top, pdiffs, l.dc.on
}

// The direct path against the gemm path on geometries it takes (channels
// 1-3, odd sizes, padding, channel counts that are not multiples of the
// kernel's 4, position counts that are not multiples of its 96) and on
// some it must refuse, on one and two threads.
func TestConvDirectMatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewSource(20))
	cases := []struct {
		param  string
		shape  []int
		direct bool
	}{
		{`num_output: 20 kernel_size: 5`, []int{9, 1, 28, 28}, true}, // LeNet's conv1
		{`num_output: 4 kernel_size: 3`, []int{3, 1, 12, 12}, true},
		{`num_output: 7 kernel_size: 3 pad: 1`, []int{5, 2, 11, 13}, true},
		{`num_output: 5 kernel_h: 3 kernel_w: 2 pad_h: 2 pad_w: 1`, []int{2, 3, 9, 15}, true},
		{`num_output: 6 kernel_size: 5 pad: 2 bias_term: false`, []int{4, 1, 10, 11}, true},
		{`num_output: 9 kernel_size: 4 pad: 3`, []int{3, 2, 7, 19}, true},
		{`num_output: 4 kernel_size: 1`, []int{2, 3, 10, 10}, true},
		{`num_output: 20 kernel_size: 5 stride: 2`, []int{2, 1, 28, 28}, false},
		{`num_output: 20 kernel_size: 3 dilation: 2`, []int{2, 1, 28, 28}, false},
		{`num_output: 4 kernel_size: 3 group: 2`, []int{2, 2, 14, 14}, false},
		{`num_output: 3 kernel_size: 3`, []int{2, 1, 14, 14}, false}, // too few channels
		{`num_output: 8 kernel_size: 3`, []int{2, 1, 10, 10}, false}, // too few positions
		{`num_output: 8 kernel_size: 5`, []int{2, 2, 14, 14}, false}, // too many taps
	}
	defer func() { convUseDirectKernel = true }()
	for _, c := range cases {
		t.Run(fmt.Sprint(c.param, c.shape), func(t *testing.T) {
			text := convLayerText("c", c.param)
			x := randBlob(rng, "x", c.shape...)
			convUseDirectKernel = false
			t0, p0, _ := runConvNoBottomDiff(t, text, 1, x)
			convUseDirectKernel = true
			for _, procs := range []int{1, 2} {
				var t1, p1 [][]float32
				var direct bool
				withProcs(procs, func() { t1, p1, direct = runConvNoBottomDiff(t, text, procs, x) })
				if want := c.direct && convDirectAVX512; direct != want {
					t.Fatalf("direct path taken: %v, want %v", direct, want)
				}
				for what, pair := range map[string][2][][]float32{"top": {t0, t1}, "param diff": {p0, p1}} {
					for i := range pair[0] {
						for j, want := range pair[0][i] {
							got := pair[1][i][j]
							if d := math.Abs(float64(got - want)); !(d <= 1e-4*(1+math.Abs(float64(want)))) {
								t.Fatalf("%d threads: %s %d elem %d: %v, gemm path %v", procs, what, i, j, got, want)
							}
						}
					}
				}
			}
		})
	}
}

// The direct path's sums do not depend on the thread count (image
// blocks are fixed, added in order): bit-identical on 1 and 2 threads.
func TestConvDirectThreadsBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	text := convLayerText("c", `num_output: 20 kernel_size: 5`)
	x := randBlob(rng, "x", 16, 1, 28, 28)
	var got [2][2][][]float32
	for i, procs := range []int{1, 2} {
		withProcs(procs, func() { got[i][0], got[i][1], _ = runConvNoBottomDiff(t, text, procs, x) })
	}
	for k := range got[0] {
		if i, j, ok := sameBits(got[0][k], got[1][k]); !ok {
			t.Fatalf("output %d differs at %d,%d", k, i, j)
		}
	}
}

// When the bottom needs a gradient, Backward takes the gemm path for
// everything (the direct path has no bottom gradient), and the forward
// stays direct.
func TestConvDirectBottomDiffFallsBack(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	text := convLayerText("c", `num_output: 5 kernel_size: 3 pad: 1`)
	x := randBlob(rng, "x", 3, 2, 11, 9)
	defer func() { convUseDirectKernel = true }()
	convUseDirectKernel = false
	t0, b0, p0 := runLayerOnce(t, text, 1, []*Blob{x}, 3, 1)
	convUseDirectKernel = true
	t1, b1, p1 := runLayerOnce(t, text, 2, []*Blob{x}, 3, 1)
	for what, pair := range map[string][2][][]float32{"top": {t0, t1}, "bottom diff": {b0, b1}, "param diff": {p0, p1}} {
		for i := range pair[0] {
			for j, want := range pair[0][i] {
				if got := pair[1][i][j]; !(math.Abs(float64(got-want)) <= 1e-4*(1+math.Abs(float64(want)))) {
					t.Fatalf("%s %d elem %d: %v, gemm path %v", what, i, j, got, want)
				}
			}
		}
	}
}

// Numerical gradient of the weights and bias through the direct path.
func TestConvDirectGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(24))
	l := buildLayer(t, convLayerText("c", `num_output: 5 kernel_h: 3 kernel_w: 2 pad: 1`)).(*Convolution)
	x := randBlob(rng, "x", 2, 2, 10, 9)
	top := &Blob{}
	g := GradCheck{Step: 1e-2, Threshold: 1e-2, Seed: 3, Bottoms: []int{}}
	if err := g.Check(l, []*Blob{x}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if !l.dc.on && convDirectAVX512 {
		t.Fatal("the direct path was not taken")
	}
}

// The direct kernels against the gemm path, old vs new in one run.
func BenchmarkConvDirectLeNetConv1(b *testing.B) {
	rng := rand.New(rand.NewSource(25))
	text := convLayerText("c", `num_output: 20 kernel_size: 5`)
	x := randBlob(rng, "x", 64, 1, 28, 28)
	defer func() { convUseDirectKernel = true }()
	for _, direct := range []bool{false, true} {
		convUseDirectKernel = direct
		l := buildThreaded(b, text, 0)
		top := []*Blob{{}}
		if err := l.Setup([]*Blob{x}, top); err != nil {
			b.Fatal(err)
		}
		FillGaussian(rng, 1, top[0].Diff)
		name := map[bool]string{false: "gemm", true: "direct"}[direct]
		b.Run(name+"/fwd", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.Forward([]*Blob{x}, top)
			}
		})
		b.Run(name+"/bwd", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.Backward(top, []bool{false}, []*Blob{x})
			}
		})
	}
}
