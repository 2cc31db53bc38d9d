package layers

import (
	"math/rand"
	"testing"
)

func TestEltwiseForward(t *testing.T) {
	a := []float32{1, 2, 3, -1}
	b := []float32{2, -1, 0.5, 4}
	c := []float32{-1, 3, 2, 2}
	cases := []struct {
		text string
		want []float32
	}{
		{`eltwise_param { operation: SUM }`, []float32{2, 4, 5.5, 5}},
		{`eltwise_param { operation: SUM coeff: 1 coeff: -1 coeff: 0.5 }`, []float32{-1.5, 4.5, 3.5, -4}},
		{`eltwise_param { operation: PROD }`, []float32{-2, -6, 3, -8}},
		{`eltwise_param { operation: MAX }`, []float32{2, 3, 3, 4}},
	}
	for _, cs := range cases {
		t.Run(cs.text, func(t *testing.T) {
			l := buildLayer(t, `name: "e" type: "Eltwise" `+cs.text)
			top := &Blob{}
			forward(t, l, []*Blob{blobOf(a, 2, 2), blobOf(b, 2, 2), blobOf(c, 2, 2)}, []*Blob{top})
			near(t, "eltwise", top.Data, cs.want, 1e-6)
		})
	}
}

func TestEltwiseMaxTies(t *testing.T) {
	// Caffe's rule: a tie between bottoms 0 and 1 goes to 1; later bottoms
	// must be strictly greater to win.
	l := buildLayer(t, `name: "e" type: "Eltwise" eltwise_param { operation: MAX }`)
	bottom := []*Blob{blobOf([]float32{1, 2, 3}, 3), blobOf([]float32{1, 1, 4}, 3), blobOf([]float32{1, 2, 0}, 3)}
	top := &Blob{}
	forward(t, l, bottom, []*Blob{top})
	near(t, "max", top.Data, []float32{1, 2, 4}, 0)
	copy(top.Diff, []float32{1, 1, 1})
	l.Backward([]*Blob{top}, []bool{true, true, true}, bottom)
	near(t, "d bottom 0", bottom[0].Diff, []float32{0, 1, 0}, 0)
	near(t, "d bottom 1", bottom[1].Diff, []float32{1, 0, 1}, 0)
	near(t, "d bottom 2", bottom[2].Diff, []float32{0, 0, 0}, 0)
}

func TestEltwiseGradient(t *testing.T) {
	for _, text := range []string{
		`eltwise_param { operation: SUM }`,
		`eltwise_param { operation: SUM coeff: 0.5 coeff: -2 coeff: 3 }`,
		`eltwise_param { operation: PROD }`,
		`eltwise_param { operation: PROD stable_prod_grad: false }`,
		`eltwise_param { operation: MAX }`,
	} {
		t.Run(text, func(t *testing.T) {
			rng := rand.New(rand.NewSource(14))
			l := buildLayer(t, `name: "e" type: "Eltwise" `+text)
			n := 24
			// Values on a grid of step 0.1, all distinct across bottoms, so
			// the finite-difference step never changes a MAX winner, and
			// away from 0 for the y/x form of PROD.
			perm := rng.Perm(3 * n)
			bottom := make([]*Blob, 3)
			for j := range bottom {
				bottom[j] = NewBlob(2, 3, 4)
				for i := range bottom[j].Data {
					v := float32(perm[j*n+i]-3*n/2) * 0.1
					if v >= 0 {
						v += 0.05
					} else {
						v -= 0.05
					}
					bottom[j].Data[i] = v
				}
			}
			if err := (GradCheck{Seed: 7, Step: 1e-3}).Check(l, bottom, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEltwiseSumInPlace(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	text := `name: "e" type: "Eltwise" eltwise_param { coeff: 2 coeff: -1 }`
	a, b := randBlob(rng, "a", 6), randBlob(rng, "b", 6)
	dy := randBlob(rng, "dy", 6)
	l := buildLayer(t, text)
	top := &Blob{}
	forward(t, l, []*Blob{a, b}, []*Blob{top})
	copy(top.Diff, dy.Data)
	l.Backward([]*Blob{top}, []bool{true, true}, []*Blob{a, b})

	a2, b2 := NewBlob(6), NewBlob(6)
	copy(a2.Data, a.Data)
	copy(b2.Data, b.Data)
	l2 := buildLayer(t, text)
	forward(t, l2, []*Blob{a2, b2}, []*Blob{a2})
	near(t, "in-place sum", a2.Data, top.Data, 1e-6)
	copy(a2.Diff, dy.Data)
	l2.Backward([]*Blob{a2}, []bool{true, true}, []*Blob{a2, b2})
	near(t, "in-place d bottom 0", a2.Diff, a.Diff, 1e-6)
	near(t, "in-place d bottom 1", b2.Diff, b.Diff, 1e-6)
}

func TestEltwiseErrors(t *testing.T) {
	x, y := NewBlob(2, 3), NewBlob(2, 3)
	wantErr(t, buildErr(t, `name: "e1" type: "Eltwise" eltwise_param { coeff: 1 }`, []*Blob{x, y}, []*Blob{{}}), `"e1"`, "coefficient")
	wantErr(t, buildErr(t, `name: "e2" type: "Eltwise" eltwise_param { operation: PROD coeff: 1 coeff: 2 }`, []*Blob{x, y}, []*Blob{{}}), `"e2"`, "summation")
	wantErr(t, buildErr(t, `name: "e3" type: "Eltwise"`, []*Blob{x, NewBlob(3, 2)}, []*Blob{{}}), `"e3"`, "same shape")
	wantErr(t, buildErr(t, `name: "e4" type: "Eltwise" eltwise_param { operation: MAX }`, []*Blob{x, y}, []*Blob{x}), `"e4"`, "in-place")
	wantErr(t, buildErr(t, `name: "e5" type: "Eltwise"`, []*Blob{x}, []*Blob{{}}), `"e5"`, "bottom")
}
