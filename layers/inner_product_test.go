package layers

import (
	"math"
	"math/rand"
	"testing"
)

func TestInnerProductForwardAndGradient(t *testing.T) {
	cases := []struct {
		name      string
		param     string
		shape     []int
		n         int
		bias      bool
		transpose bool
		m, k      int
		topShape  []int
	}{
		{"bias", `num_output: 5`, []int{3, 2, 2, 2}, 5, true, false, 3, 8, []int{3, 5}},
		{"no bias", `num_output: 4 bias_term: false`, []int{2, 6}, 4, false, false, 2, 6, []int{2, 4}},
		{"transpose", `num_output: 3 transpose: true`, []int{4, 5}, 3, true, true, 4, 5, []int{4, 3}},
		{"transpose no bias", `num_output: 3 transpose: true bias_term: false`, []int{2, 3, 2}, 3, false, true, 2, 6, []int{2, 3}},
		{"axis 2", `num_output: 2 axis: 2`, []int{2, 3, 4}, 2, true, false, 6, 4, []int{2, 3, 2}},
		{"axis -1", `num_output: 2 axis: -1`, []int{2, 3, 4}, 2, true, false, 6, 4, []int{2, 3, 2}},
	}
	rng := rand.New(rand.NewSource(31))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := `name: "ip" type: "InnerProduct" inner_product_param { ` + c.param +
				` weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } }`
			l := buildLayer(t, text)
			bottom := randBlob(rng, "x", c.shape...)
			top := &Blob{}
			if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			if !top.ShapeEquals(c.topShape) {
				t.Fatalf("top shape %v, want %v", top.Shape(), c.topShape)
			}
			ps := l.Params()
			wShape := []int{c.n, c.k}
			if c.transpose {
				wShape = []int{c.k, c.n}
			}
			if !ps[0].ShapeEquals(wShape) {
				t.Fatalf("weight shape %v, want %v", ps[0].Shape(), wShape)
			}
			if c.bias != (len(ps) == 2) {
				t.Fatalf("%d params with bias_term %v", len(ps), c.bias)
			}
			if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < c.m; i++ {
				for j := 0; j < c.n; j++ {
					var s float64
					for q := 0; q < c.k; q++ {
						w := ps[0].Data[j*c.k+q]
						if c.transpose {
							w = ps[0].Data[q*c.n+j]
						}
						s += float64(bottom.Data[i*c.k+q]) * float64(w)
					}
					if c.bias {
						s += float64(ps[1].Data[j])
					}
					if got := top.Data[i*c.n+j]; math.Abs(float64(got)-s) > 1e-4 {
						t.Fatalf("top[%d,%d] = %g, want %g", i, j, got, s)
					}
				}
			}
			if err := (GradCheck{Seed: 4}).Check(buildLayer(t, text), []*Blob{bottom}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInnerProductErrors(t *testing.T) {
	l := buildLayer(t, `name: "ip_bad" type: "InnerProduct" inner_product_param { num_output: 0 }`)
	wantErr(t, l.Setup([]*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"ip_bad"`, "num_output")
	l = buildLayer(t, `name: "ip_axis" type: "InnerProduct" inner_product_param { num_output: 2 axis: 3 }`)
	wantErr(t, l.Setup([]*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"ip_axis"`, "axis")
	l = buildLayer(t, `name: "ip_re" type: "InnerProduct" inner_product_param { num_output: 2 }`)
	b := NewBlob(2, 3)
	if err := l.Setup([]*Blob{b}, []*Blob{{}}); err != nil {
		t.Fatal(err)
	}
	b.Reshape(2, 4)
	wantErr(t, l.Reshape([]*Blob{b}, []*Blob{{}}), `"ip_re"`, "incompatible")
	// A different batch size is fine.
	b.Reshape(5, 3)
	if err := l.Reshape([]*Blob{b}, []*Blob{{}}); err != nil {
		t.Fatal(err)
	}
}

// Backward must add to the parameter gradients (the solver zeroes them;
// iter_size accumulates across passes) and overwrite the bottom gradient.
func TestParamGradientsAccumulate(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	for _, text := range []string{
		`name: "ip" type: "InnerProduct" inner_product_param { num_output: 3 weight_filler { type: "xavier" } }`,
		`name: "conv" type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } }`,
		`name: "conv1x1" type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } }`,
	} {
		l := buildLayer(t, text)
		bottom := randBlob(rng, "x", 2, 3, 4, 4)
		top := &Blob{}
		if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		l.Forward([]*Blob{bottom}, []*Blob{top})
		FillGaussian(rng, 1, top.Diff)
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
		var once [][]float32
		for _, p := range l.Params() {
			once = append(once, append([]float32(nil), p.Diff...))
		}
		dx := append([]float32(nil), bottom.Diff...)
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
		for i, p := range l.Params() {
			for j, v := range p.Diff {
				if math.Abs(float64(v-2*once[i][j])) > 1e-5*math.Max(1, math.Abs(float64(v))) {
					t.Fatalf("%s param %d element %d: %g after two passes, %g after one", l.Type(), i, j, v, once[i][j])
				}
			}
		}
		for j, v := range bottom.Diff {
			if v != dx[j] {
				t.Fatalf("%s bottom diff %d accumulated: %g then %g", l.Type(), j, dx[j], v)
			}
		}
	}
}

// parallelGemm's slabs against a plain triple loop, for every transpose
// combination, shapes that split by rows and by columns with ragged last
// slabs, leading dimensions wider than the matrices, and beta 0 and 1,
// on one to four participants.
func TestParallelGemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, sh := range [][3]int{{64, 500, 800}, {301, 7, 390}, {37, 133, 211}, {500, 800, 64}, {5, 3, 2}, {130, 129, 33}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float32{0, 1} {
					lda, ldb, ldc := k+3, n+1, n+2
					if tA {
						lda = m + 5
					}
					if tB {
						ldb = k + 2
					}
					ra, rb := m, k
					if tA {
						ra = k
					}
					if tB {
						rb = n
					}
					a, b := randSlice(rng, ra*lda), randSlice(rng, rb*ldb)
					c0 := randSlice(rng, m*ldc)
					want := make([]float64, m*n)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s float64
							for p := 0; p < k; p++ {
								var av, bv float32
								if tA {
									av = a[p*lda+i]
								} else {
									av = a[i*lda+p]
								}
								if tB {
									bv = b[j*ldb+p]
								} else {
									bv = b[p*ldb+j]
								}
								s += float64(av) * float64(bv)
							}
							want[i*n+j] = 0.5*s + float64(beta)*float64(c0[i*ldc+j])
						}
					}
					for _, parts := range []int{1, 2, 3, 4} {
						c := append([]float32(nil), c0...)
						var j gemmJob
						withProcs(parts, func() {
							parallelGemm(&j, parts, tA, tB, m, n, k, 0.5, a, lda, b, ldb, beta, c, ldc)
						})
						for i := 0; i < m; i++ {
							for jj := 0; jj < ldc; jj++ {
								got := c[i*ldc+jj]
								if jj >= n {
									if got != c0[i*ldc+jj] {
										t.Fatalf("%dx%dx%d tA=%v tB=%v: wrote outside C at %d,%d", m, n, k, tA, tB, i, jj)
									}
									continue
								}
								w := want[i*n+jj]
								if d := math.Abs(float64(got) - w); d > 1e-4*(1+math.Abs(w))*math.Sqrt(float64(k)) {
									t.Fatalf("%dx%dx%d tA=%v tB=%v beta=%v parts=%d: C[%d,%d] = %v, want %v", m, n, k, tA, tB, beta, parts, i, jj, got, w)
								}
							}
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}
