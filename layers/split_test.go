package layers

import (
	"math/rand"
	"testing"
)

func TestSplitSharesDataSumsDiffs(t *testing.T) {
	l := buildLayer(t, `name: "sp" type: "Split"`)
	bottom := blobOf([]float32{1, 2, 3}, 3)
	top := []*Blob{{}, {}, {}}
	forward(t, l, []*Blob{bottom}, top)
	for i, tp := range top {
		near(t, "split data", tp.Data, bottom.Data, 0)
		for j := range tp.Diff {
			tp.Diff[j] = float32((i + 1) * (j + 1))
		}
	}
	bottom.Data[0] = 9
	if top[2].Data[0] != 9 {
		t.Fatal("Split top does not share the bottom's data")
	}
	l.Backward(top, []bool{true}, []*Blob{bottom})
	near(t, "split diff sum", bottom.Diff, []float32{6, 12, 18}, 0)
}

func TestSplitGradient(t *testing.T) {
	l := buildLayer(t, `name: "sp" type: "Split"`)
	bottom := randBlob(rand.New(rand.NewSource(18)), "x", 2, 3, 2)
	if err := (GradCheck{Seed: 10}).Check(l, []*Blob{bottom}, []*Blob{{}, {}, {}}); err != nil {
		t.Fatal(err)
	}
}

func TestSilence(t *testing.T) {
	l := buildLayer(t, `name: "si" type: "Silence"`)
	a, b := randBlob(rand.New(rand.NewSource(1)), "a", 4), NewBlob(2)
	FillGaussian(rand.New(rand.NewSource(2)), 1, a.Diff)
	b.Diff[0] = 5
	forward(t, l, []*Blob{a, b}, nil)
	l.Backward(nil, []bool{true, false}, []*Blob{a, b})
	near(t, "silenced diff", a.Diff, []float32{0, 0, 0, 0}, 0)
	if b.Diff[0] != 5 {
		t.Fatal("Silence touched a bottom that did not ask for a gradient")
	}
	wantErr(t, buildErr(t, `name: "si2" type: "Silence"`, []*Blob{a}, []*Blob{{}}), `"si2"`, "top")
}
