package layers

import (
	"math/rand"
	"testing"
)

func TestEuclideanLossForward(t *testing.T) {
	l := buildLayer(t, `name: "loss" type: "EuclideanLoss"`)
	if ll, ok := l.(LossLayer); !ok || !ll.IsLoss() {
		t.Fatal("EuclideanLoss is not a LossLayer")
	}
	a := blobOf([]float32{1, 2, 3, 4}, 2, 2)
	b := blobOf([]float32{1, 0, 0, 4}, 2, 1, 2) // same count per sample, other shape
	top := &Blob{}
	forward(t, l, []*Blob{a, b}, []*Blob{top})
	// (0 + 4 + 9 + 0) / 2 / 2
	near(t, "loss", top.Data, []float32{13.0 / 4}, 1e-6)
	if top.NumAxes() != 0 {
		t.Errorf("loss top shape %v, want a scalar (no axes) as Caffe", top.Shape())
	}
	// The gradient is scaled by the loss weight in top.Diff[0].
	top.Diff[0] = 2
	l.Backward([]*Blob{top}, []bool{true, true}, []*Blob{a, b})
	near(t, "da", a.Diff, []float32{0, 2, 3, 0}, 1e-6)
	near(t, "db", b.Diff, []float32{0, -2, -3, 0}, 1e-6)
}

func TestEuclideanLossGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	l := buildLayer(t, `name: "loss" type: "EuclideanLoss"`)
	bottom := []*Blob{randBlob(rng, "a", 3, 4), randBlob(rng, "b", 3, 4)}
	if err := (GradCheck{Seed: 12}).Check(l, bottom, []*Blob{{}}); err != nil {
		t.Fatal(err)
	}
}

func TestEuclideanLossErrors(t *testing.T) {
	wantErr(t, buildErr(t, `name: "l1" type: "EuclideanLoss"`, []*Blob{NewBlob(2, 3), NewBlob(2, 4)}, []*Blob{{}}), `"l1"`, "same dimension")
	wantErr(t, buildErr(t, `name: "l2" type: "EuclideanLoss"`, []*Blob{NewBlob(2, 3), NewBlob(3, 2)}, []*Blob{{}}), `"l2"`, "first dimension")
}
