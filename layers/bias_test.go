package layers

import (
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func TestBiasForward(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6} // shape 2x3
	l := buildLayer(t, `name: "b" type: "Bias"`)
	bottom, top := blobOf(x, 2, 3), &Blob{}
	if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	near(t, "default filler", l.Params()[0].Data, []float32{0, 0, 0}, 0)
	copy(l.Params()[0].Data, []float32{10, 20, 30})
	if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	near(t, "bias axis 1", top.Data, []float32{11, 22, 33, 14, 25, 36}, 0)

	l = buildLayer(t, `name: "b" type: "Bias" bias_param { axis: 0 }`)
	b1 := blobOf([]float32{-1, 1}, 2)
	top = &Blob{}
	forward(t, l, []*Blob{bottom, b1}, []*Blob{top})
	near(t, "bias bottom[1] axis 0", top.Data, []float32{0, 1, 2, 5, 6, 7}, 0)
	if len(l.Params()) != 0 {
		t.Fatalf("two-bottom Bias has %d params, want 0", len(l.Params()))
	}
}

func TestBiasGradient(t *testing.T) {
	for _, c := range scaleBiasCases {
		text := `name: "b" type: "Bias" bias_param { ` + c.param + ` filler { type: "gaussian" } }`
		t.Run(text+formatShape(c.second), func(t *testing.T) {
			rng := rand.New(rand.NewSource(13))
			l := buildLayer(t, text)
			bottom := []*Blob{randBlob(rng, "x", 2, 3, 2, 2)}
			if c.second != nil {
				bottom = append(bottom, randBlob(rng, "b", c.second...))
			}
			if err := (GradCheck{Seed: 6}).Check(l, bottom, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBiasInPlace(t *testing.T) {
	checkInPlace(t, `name: "b" type: "Bias" bias_param { filler { type: "gaussian" } }`, caffepb.Phase_TRAIN, 2, 3, 2)
}

func TestBiasErrors(t *testing.T) {
	wantErr(t, buildErr(t, `name: "b1" type: "Bias"`, []*Blob{NewBlob(2, 3), NewBlob(2)}, []*Blob{{}}), `"b1"`, "dimension mismatch")
	wantErr(t, buildErr(t, `name: "b2" type: "Bias"`, []*Blob{NewBlob(2, 3), NewBlob(3), NewBlob(3)}, []*Blob{{}}), `"b2"`, "bottom")
}
