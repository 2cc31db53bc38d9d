package layers

import (
	"math"
	"math/rand"
	"testing"
)

func TestSoftmaxForward(t *testing.T) {
	cases := []struct {
		axis  string
		shape []int
		ax    int
	}{
		{"1", []int{2, 5}, 1},
		{"1", []int{2, 4, 3, 2}, 1}, // inner > 1: one softmax per (n, h, w)
		{"-1", []int{2, 3, 4}, 2},
		{"0", []int{3, 4}, 0},
	}
	rng := rand.New(rand.NewSource(51))
	for _, c := range cases {
		l := buildLayer(t, `name: "sm" type: "Softmax" softmax_param { axis: `+c.axis+` }`)
		bottom := randBlob(rng, "x", c.shape...)
		bottom.Data[0] = 80 // exp(80) overflows float32: the max must be subtracted
		top := &Blob{}
		if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		outer, ch, inner := bottom.CountRange(0, c.ax), c.shape[c.ax], bottom.CountFrom(c.ax+1)
		for o := 0; o < outer; o++ {
			for j := 0; j < inner; j++ {
				var z float64
				for k := 0; k < ch; k++ {
					z += math.Exp(float64(bottom.Data[(o*ch+k)*inner+j]))
				}
				for k := 0; k < ch; k++ {
					i := (o*ch+k)*inner + j
					want := math.Exp(float64(bottom.Data[i])) / z
					if math.Abs(float64(top.Data[i])-want) > 1e-6 {
						t.Fatalf("shape %v axis %s: top[%d] = %g, want %g", c.shape, c.axis, i, top.Data[i], want)
					}
				}
			}
		}
	}
}

func TestSoftmaxGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(52))
	for _, c := range []struct {
		axis  string
		shape []int
	}{{"1", []int{2, 5}}, {"1", []int{2, 3, 2, 2}}, {"-1", []int{2, 2, 4}}} {
		l := buildLayer(t, `name: "sm" type: "Softmax" softmax_param { axis: `+c.axis+` }`)
		if err := (GradCheck{Seed: 6}).Check(l, []*Blob{randBlob(rng, "x", c.shape...)}, []*Blob{{}}); err != nil {
			t.Fatalf("shape %v axis %s: %v", c.shape, c.axis, err)
		}
	}
}

func TestSoftmaxInPlace(t *testing.T) {
	rng := rand.New(rand.NewSource(53))
	x := randBlob(rng, "x", 2, 3, 2)
	dy := randBlob(rng, "dy", 2, 3, 2)
	sep, bottom, top := buildLayer(t, `name: "sm" type: "Softmax"`), NewBlob(2, 3, 2), &Blob{}
	copy(bottom.Data, x.Data)
	if err := sep.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	sep.Forward([]*Blob{bottom}, []*Blob{top})
	copy(top.Diff, dy.Data)
	sep.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})

	in, blob := buildLayer(t, `name: "sm" type: "Softmax"`), NewBlob(2, 3, 2)
	copy(blob.Data, x.Data)
	if err := in.Setup([]*Blob{blob}, []*Blob{blob}); err != nil {
		t.Fatal(err)
	}
	in.Forward([]*Blob{blob}, []*Blob{blob})
	copy(blob.Diff, dy.Data)
	in.Backward([]*Blob{blob}, []bool{true}, []*Blob{blob})
	for i := range blob.Data {
		if math.Abs(float64(blob.Data[i]-top.Data[i])) > 1e-7 || math.Abs(float64(blob.Diff[i]-bottom.Diff[i])) > 1e-7 {
			t.Fatalf("element %d: in place (%g, %g), separate (%g, %g)", i, blob.Data[i], blob.Diff[i], top.Data[i], bottom.Diff[i])
		}
	}
}

func TestSoftmaxErrors(t *testing.T) {
	l := buildLayer(t, `name: "sm_bad" type: "Softmax" softmax_param { axis: 2 }`)
	wantErr(t, l.Setup([]*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"sm_bad"`, "axis")
}
