package layers

import (
	"math/rand"
	"testing"
)

func TestConcatForward(t *testing.T) {
	a := blobOf([]float32{1, 2, 3, 4}, 2, 2)        // 2x2
	b := blobOf([]float32{5, 6, 7, 8, 9, 10}, 2, 3) // 2x3
	l := buildLayer(t, `name: "c" type: "Concat"`)
	top := &Blob{}
	forward(t, l, []*Blob{a, b}, []*Blob{top})
	if !top.ShapeEquals([]int{2, 5}) {
		t.Fatalf("top shape %v, want [2 5]", top.Shape())
	}
	near(t, "concat axis 1", top.Data, []float32{1, 2, 5, 6, 7, 3, 4, 8, 9, 10}, 0)

	c := blobOf([]float32{5, 6}, 1, 2)
	for _, text := range []string{`concat_param { axis: 0 }`, `concat_param { concat_dim: 0 }`, `concat_param { axis: -2 }`} {
		l = buildLayer(t, `name: "c" type: "Concat" `+text)
		top = &Blob{}
		forward(t, l, []*Blob{a, c}, []*Blob{top})
		if !top.ShapeEquals([]int{3, 2}) {
			t.Fatalf("%s: top shape %v, want [3 2]", text, top.Shape())
		}
		near(t, text, top.Data, []float32{1, 2, 3, 4, 5, 6}, 0)
	}
}

func TestConcatSingleBottomShares(t *testing.T) {
	l := buildLayer(t, `name: "c" type: "Concat"`)
	a, top := blobOf([]float32{1, 2, 3}, 1, 3), &Blob{}
	forward(t, l, []*Blob{a}, []*Blob{top})
	a.Data[1], top.Diff[2] = 42, 7
	if top.Data[1] != 42 || a.Diff[2] != 7 {
		t.Fatal("single-bottom Concat does not share data and diff")
	}
}

func TestConcatGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	for _, c := range []struct {
		text   string
		shapes [][]int
	}{
		{`concat_param { axis: 0 }`, [][]int{{2, 3, 2}, {1, 3, 2}, {3, 3, 2}}},
		{`concat_param { axis: 1 }`, [][]int{{2, 1, 2}, {2, 4, 2}}},
		{`concat_param { axis: 2 }`, [][]int{{2, 2, 1}, {2, 2, 3}}},
	} {
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "c" type: "Concat" `+c.text)
			var bottom []*Blob
			for _, s := range c.shapes {
				bottom = append(bottom, randBlob(rng, "x", s...))
			}
			if err := (GradCheck{Seed: 8}).Check(l, bottom, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcatErrors(t *testing.T) {
	wantErr(t, buildErr(t, `name: "c1" type: "Concat"`, []*Blob{NewBlob(2, 3, 4), NewBlob(2, 3, 5)}, []*Blob{{}}),
		`"c1"`, "same shape, except at concat axis")
	wantErr(t, buildErr(t, `name: "c2" type: "Concat"`, []*Blob{NewBlob(2, 3), NewBlob(2, 3, 1)}, []*Blob{{}}), `"c2"`, "number of axes")
	wantErr(t, buildErr(t, `name: "c3" type: "Concat" concat_param { axis: 1 concat_dim: 1 }`, []*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"c3"`, "not both")
	wantErr(t, buildErr(t, `name: "c4" type: "Concat" concat_param { axis: 3 }`, []*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"c4"`, "axis 3")
	wantErr(t, buildErr(t, `name: "c5" type: "Concat" concat_param { concat_dim: 2 }`, []*Blob{NewBlob(2, 3)}, []*Blob{{}}), `"c5"`, "concat_dim 2")
}
