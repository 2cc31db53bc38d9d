package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// The 1-D transforms alone, in float64 arithmetic on the float32
// constants: Aᵀ[(G g) ⊙ (Bᵀ d)] must be the correlation of d with g.
func TestWinogradMatrices1D(t *testing.T) {
	for _, m := range []int{2, 4} {
		mt := newWinoMats(m, 5)
		rng := rand.New(rand.NewSource(1))
		d := make([]float64, mt.alpha)
		g := make([]float64, 5)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		for i := range g {
			g[i] = rng.NormFloat64()
		}
		prod := make([]float64, mt.alpha)
		for j := 0; j < mt.alpha; j++ {
			var u, v float64
			for k := 0; k < 5; k++ {
				u += float64(mt.g[j*8+k]) * g[k]
			}
			for i := 0; i < mt.alpha; i++ {
				v += float64(mt.bt[j*8+i]) * d[i]
			}
			prod[j] = u * v
		}
		for i := 0; i < m; i++ {
			var y, want float64
			for j := 0; j < mt.alpha; j++ {
				y += float64(mt.at[i*8+j]) * prod[j]
			}
			for k := 0; k < 5; k++ {
				want += g[k] * d[i+k]
			}
			if math.Abs(y-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("F(%d,5) output %d: %g, want %g", m, i, y, want)
			}
		}
	}
}

// maxRelErr is max|a-b| over max|b|, the error in units of the output's
// scale (the measure that matters for training: Winograd's rounding
// error grows with the tile's magnitudes, not each output's).
func maxRelErr(a, b []float32) float64 {
	var e, s float64
	for i := range a {
		e = math.Max(e, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	if s == 0 {
		return e
	}
	return e / s
}

// winoTaken reports whether a layer of this text and bottom shape takes
// the Winograd path.
func winoTaken(tb testing.TB, text string, shape []int) bool {
	l := buildThreaded(tb, text, 1).(*Convolution)
	if err := l.Setup([]*Blob{NewBlob(shape...)}, []*Blob{{}}); err != nil {
		tb.Fatal(err)
	}
	return l.wg.on
}

// winoTol is the allowed error, relative to the output's (or gradient's)
// largest magnitude. F(4x4,5x5)'s 8x8 transforms round each product
// through constants up to ~20 in magnitude; measured errors on these
// shapes are reported by the test (-v) and stay near 1e-5.
const winoTol = 2e-4

var winoCases = []struct {
	param string
	shape []int
	on    bool
}{
	{`num_output: 32 kernel_size: 5 pad: 2`, []int{3, 32, 16, 16}, true}, // CIFAR-10's conv2
	{`num_output: 64 kernel_size: 5 pad: 2`, []int{3, 32, 8, 8}, true},   // conv3
	{`num_output: 17 kernel_size: 5 pad: 2`, []int{1, 19, 13, 11}, true},
	{`num_output: 20 kernel_size: 5 pad: 1`, []int{3, 16, 9, 14}, true},
	{`num_output: 16 kernel_size: 5`, []int{3, 21, 12, 7}, true},
	{`num_output: 33 kernel_size: 5 pad: 2 bias_term: false`, []int{3, 40, 5, 5}, true},
	{`num_output: 18 kernel_size: 5 pad: 0`, []int{1, 16, 5, 6}, true},
	{`num_output: 24 kernel_size: 5 pad: 4`, []int{2, 18, 3, 4}, true},
	{`num_output: 24 kernel_size: 5 pad: 2`, []int{13, 16, 6, 6}, true}, // several groups and blocks
	{`num_output: 50 kernel_size: 5`, []int{9, 20, 12, 12}, true},       // LeNet's conv2: unpadded strides 20, 50
	{`num_output: 32 kernel_size: 3 pad: 1`, []int{2, 32, 8, 8}, false},
	{`num_output: 32 kernel_size: 5 stride: 2`, []int{2, 32, 12, 12}, false},
	{`num_output: 32 kernel_size: 5 group: 2`, []int{2, 32, 12, 12}, false},
	{`num_output: 32 kernel_size: 5 pad: 2`, []int{2, 3, 12, 12}, false},
	{`num_output: 8 kernel_size: 5 pad: 2`, []int{2, 32, 12, 12}, false},
}

// The Winograd path against the im2col path on many shapes: forward,
// bottom gradient, weight and bias gradients, on one and two threads.
func TestConvWinogradMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewSource(30))
	defer func() { convUseWinograd = true }()
	for _, c := range winoCases {
		t.Run(fmt.Sprint(c.param, c.shape), func(t *testing.T) {
			text := convLayerText("c", c.param)
			if got := winoTaken(t, text, c.shape); got != (c.on && winoAVX512 && winoEnvOn) {
				t.Fatalf("Winograd path taken: %v, want %v", got, c.on)
			}
			x := randBlob(rng, "x", c.shape...)
			convUseWinograd = false
			t0, b0, p0 := runLayerOnce(t, text, 1, []*Blob{x}, 5, 1)
			convUseWinograd = true
			var first [][]float32
			for _, procs := range []int{1, 2} {
				var t1, b1, p1 [][]float32
				withProcs(procs, func() { t1, b1, p1 = runLayerOnce(t, text, 0, []*Blob{x}, 5, 1) })
				var all [][]float32
				for _, r := range append(append(append([][]float32{}, t1...), b1...), p1...) {
					all = append(all, append([]float32(nil), r...))
				}
				if first == nil {
					first = all
				} else if i, j, ok := sameBits(first, all); !ok {
					t.Errorf("threads %d: result %d element %d differs from one thread's", procs, i, j)
				}
				// The param diffs start at 0.5 (they accumulate): compare
				// what was added.
				for i := range p1 {
					for j := range p1[i] {
						p1[i][j] -= 0.5
						p0[i][j] -= 0.5
					}
					defer func(i int) {
						for j := range p0[i] {
							p0[i][j] += 0.5
						}
					}(i)
				}
				errs := []float64{maxRelErr(t1[0], t0[0]), maxRelErr(b1[0], b0[0])}
				for i := range p1 {
					errs = append(errs, maxRelErr(p1[i], p0[i]))
				}
				for i := range p1 {
					for j := range p1[i] {
						p0[i][j] += 0.5
					}
				}
				t.Logf("threads %d: relative error top %.2g, bottom diff %.2g, params %.2g", procs, errs[0], errs[1], errs[2:])
				for i, e := range errs {
					if !(e <= winoTol) {
						t.Errorf("threads %d: output %d (top, bottom diff, weight, bias) relative error %g > %g", procs, i, e, winoTol)
					}
				}
			}
		})
	}
}

// CIFAR-10 quick's conv2 and conv3 at batch 100, Winograd against im2col
// in one run: go test -run X -bench ConvWinograd ./layers/
func BenchmarkConvWinograd(b *testing.B) {
	rng := rand.New(rand.NewSource(31))
	defer func() { convUseWinograd = true }()
	for _, c := range []struct {
		name, param string
		shape       []int
	}{
		{"conv2", `num_output: 32 kernel_size: 5 pad: 2`, []int{100, 32, 16, 16}},
		{"conv3", `num_output: 64 kernel_size: 5 pad: 2`, []int{100, 32, 8, 8}},
	} {
		x := randBlob(rng, "x", c.shape...)
		for _, on := range []bool{false, true} {
			convUseWinograd = on
			l := buildThreaded(b, convLayerText("c", c.param), 0)
			top := []*Blob{{}}
			if err := l.Setup([]*Blob{x}, top); err != nil {
				b.Fatal(err)
			}
			FillGaussian(rng, 1, top[0].Diff)
			name := c.name + map[bool]string{false: "/im2col", true: "/winograd"}[on]
			b.Run(name+"/fwd", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					l.Forward([]*Blob{x}, top)
				}
			})
			b.Run(name+"/bwd", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					l.Backward(top, []bool{true}, []*Blob{x})
				}
			})
		}
	}
}

// winoRefXform is the plain float64 T X Tᵀ the kernels compute, on one
// vector of 16 lanes.
func winoRefXform(t []float32, r, p int, src []float32, srs, scs int, dst []float32, drs, dcs int, accum bool) {
	for lane := 0; lane < 16; lane++ {
		for b := 0; b < r; b++ {
			for a := 0; a < r; a++ {
				var s float64
				for i := 0; i < p; i++ {
					for j := 0; j < p; j++ {
						s += float64(t[b*8+i]) * float64(t[a*8+j]) * float64(src[i*srs+j*scs+lane])
					}
				}
				o := b*drs + a*dcs + lane
				if accum {
					s += float64(dst[o])
				}
				dst[o] = float32(s)
			}
		}
	}
}

// Each transform, through the kernels written for F(4x4,5x5) and through
// the generic kernel, against the float64 reference; strides that are
// not the layer's, several vectors per call.
func TestWinogradKernels(t *testing.T) {
	if !winoAVX512 {
		t.Skip("no AVX-512")
	}
	defer func() { winoFastKernels = true }()
	rng := rand.New(rand.NewSource(32))
	w := &convWinograd{mats: newWinoMats(4, 5)}
	mt := w.mats
	tmp := make([]float32, 64*16+16)
	for _, k := range []struct {
		name  string
		kind  int
		t     []float32
		r, p  int
		accum bool
	}{
		{"Bt", xBt, mt.bt, 8, 8, false},
		{"At", xAt, mt.at, 4, 8, false},
		{"A", xA, mt.a, 8, 4, false},
		{"B", xB, mt.b, 8, 8, true},
		{"G", xG, mt.g, 8, 5, false},
		{"Gt", xGt, mt.gt, 5, 8, false},
	} {
		for _, fast := range []bool{false, true} {
			winoFastKernels = fast
			const nvec = 3
			srs, scs := 16*nvec*k.p+16, 16*nvec+32
			drs, dcs := 16*nvec*k.r+48, 16*nvec
			src := make([]float32, k.p*(srs+scs)+16*nvec)
			FillGaussian(rng, 1, src)
			dst := make([]float32, k.r*(drs+dcs)+16*nvec)
			FillGaussian(rng, 1, dst)
			want := append([]float32(nil), dst...)
			for v := 0; v < nvec; v++ {
				winoRefXform(k.t, k.r, k.p, src[16*v:], srs, scs, want[16*v:], drs, dcs, k.accum)
			}
			w.xform(k.kind, src, srs, scs, dst, drs, dcs, nvec, tmp)
			// Relative to the largest output: the products round through
			// constants up to ~20 (Bᵀ's squared), so 1e-5 is a few ulps.
			if e := maxRelErr(dst, want); !(e < 1e-5) {
				t.Errorf("%s fast=%v: relative error %g", k.name, fast, e)
			}
		}
	}
}

// The register transpose on every block size, with and without a bias;
// lanes past the block must keep what they held.
func TestWinogradTranspose(t *testing.T) {
	if !winoAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewSource(33))
	const ss, ds = 21, 19 // row strides of source and destination, floats
	bias := make([]float32, 16)
	FillGaussian(rng, 1, bias)
	for rows := 1; rows <= 16; rows++ {
		for cols := 1; cols <= 16; cols++ {
			for _, b := range [][]float32{winoZeros[:], bias} {
				src := make([]float32, 16*ss)
				FillGaussian(rng, 1, src)
				// Past the block: NaN, which must be neither read nor written.
				for r := 0; r < 16; r++ {
					for c := 0; c < ss; c++ {
						if r >= rows || c >= cols {
							src[r*ss+c] = float32(math.NaN())
						}
					}
				}
				dst := make([]float32, 16*ds)
				FillGaussian(rng, 1, dst)
				want := append([]float32(nil), dst...)
				for j := 0; j < cols; j++ {
					for r := 0; r < rows; r++ {
						want[j*ds+r] = src[r*ss+j] + b[j]
					}
				}
				winoTransposeAVX512(&src[0], 4*ss, &dst[0], 4*ds, rows, cols, &b[0])
				if i, j, ok := sameBits([][]float32{dst}, [][]float32{want}); !ok {
					t.Fatalf("%dx%d: element %d/%d: %g, want %g", rows, cols, i, j, dst[j], want[j])
				}
			}
		}
	}
}

// Numerical gradient of the bottom, weights and bias through the
// Winograd path. The layer is linear in each of them, so a central
// difference is exact at any step; the large step keeps the forward's
// float32 rounding (a few 1e-6 of the outputs' scale, more than im2col's)
// small next to the difference (at 1e-2 it measured up to 1.6% error).
func TestConvWinogradGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(34))
	l := buildLayer(t, convLayerText("c", `num_output: 17 kernel_size: 5 pad: 2`)).(*Convolution)
	x := randBlob(rng, "x", 2, 16, 7, 6)
	top := &Blob{}
	g := GradCheck{Step: 1, Threshold: 1e-3, Seed: 4}
	if err := g.Check(l, []*Blob{x}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	if !l.wg.on && winoAVX512 && winoEnvOn {
		t.Fatal("the Winograd path was not taken")
	}
}

// A warmed-up forward and backward through the Winograd path allocates
// nothing.
func TestConvWinogradAllocs(t *testing.T) {
	rng := rand.New(rand.NewSource(35))
	l := buildLayer(t, convLayerText("c", `num_output: 32 kernel_size: 5 pad: 2`)).(*Convolution)
	x := randBlob(rng, "x", 10, 32, 16, 16)
	top := []*Blob{{}}
	if err := l.Setup([]*Blob{x}, top); err != nil {
		t.Fatal(err)
	}
	if !l.wg.on && winoAVX512 && winoEnvOn {
		t.Fatal("the Winograd path was not taken")
	}
	FillGaussian(rng, 1, top[0].Diff)
	step := func() {
		if err := l.Forward([]*Blob{x}, top); err != nil {
			t.Fatal(err)
		}
		l.Backward(top, []bool{true}, []*Blob{x})
	}
	step()
	if n := testing.AllocsPerRun(10, step); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
}

// F(2x2,5x5) (6x6 tiles, the generic kernel for every transform) against
// the im2col path: the fallback tile size must stay correct too.
func TestConvWinogradF2MatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewSource(36))
	defer func() { convUseWinograd, winoOutTile = true, 4 }()
	for _, c := range winoCases[:4] {
		text := convLayerText("c", c.param)
		x := randBlob(rng, "x", c.shape...)
		convUseWinograd = false
		t0, b0, p0 := runLayerOnce(t, text, 1, []*Blob{x}, 5, 1)
		convUseWinograd, winoOutTile = true, 2
		t1, b1, p1 := runLayerOnce(t, text, 0, []*Blob{x}, 5, 1)
		winoOutTile = 4
		// p0, p1 both start at 0.5 and get the same shift: compare as is,
		// relative to the gradient's scale (|diff| >> 0.5 here).
		errs := []float64{maxRelErr(t1[0], t0[0]), maxRelErr(b1[0], b0[0]), maxRelErr(p1[0], p0[0])}
		t.Logf("%s %v: relative error top %.2g, bottom diff %.2g, weight diff %.2g", c.param, c.shape, errs[0], errs[1], errs[2])
		for i, e := range errs {
			if !(e <= winoTol) {
				t.Errorf("%s %v: output %d (top, bottom diff, weight) relative error %g > %g", c.param, c.shape, i, e, winoTol)
			}
		}
	}
}
