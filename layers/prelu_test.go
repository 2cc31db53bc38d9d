package layers

import (
	"math/rand"
	"testing"
)

func TestPReLUForward(t *testing.T) {
	// Default filler: every slope 0.25, one per channel.
	l := buildLayer(t, `name: "p" type: "PReLU"`)
	bottom, top := blobOf([]float32{-4, 2, -1, 0, 3, -8}, 1, 3, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	if got := l.Params()[0].Shape(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("slope shape %v, want [3]", got)
	}
	near(t, "prelu default", top.Data, []float32{-1, 2, -0.25, 0, 3, -2}, 0)

	copy(l.Params()[0].Data, []float32{0.5, -1, 2})
	if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	near(t, "prelu per channel", top.Data, []float32{-2, 2, 1, 0, 3, -16}, 0)

	// channel_shared: a single slope in a blob with no axes, as Caffe stores it.
	l = buildLayer(t, `name: "p" type: "PReLU" prelu_param { channel_shared: true filler { type: "constant" value: 0.1 } }`)
	top = &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	if p := l.Params()[0]; p.NumAxes() != 0 || p.Count() != 1 {
		t.Fatalf("shared slope shape %v count %d, want [] and 1", p.Shape(), p.Count())
	}
	near(t, "prelu shared", top.Data, []float32{-0.4, 2, -0.1, 0, 3, -0.8}, 1e-7)
}

func TestPReLUGradient(t *testing.T) {
	for _, text := range []string{
		`prelu_param { filler { type: "uniform" min: -0.5 max: 0.5 } }`,
		`prelu_param { channel_shared: true filler { type: "constant" value: 0.3 } }`,
	} {
		t.Run(text, func(t *testing.T) {
			l := buildLayer(t, `name: "p" type: "PReLU" `+text)
			bottom := randBlob(rand.New(rand.NewSource(8)), "x", 2, 3, 2, 2)
			if err := (GradCheck{Seed: 4, KinkRange: 0.02}).Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPReLUErrors(t *testing.T) {
	wantErr(t, buildErr(t, `name: "p1" type: "PReLU"`, []*Blob{NewBlob(4)}, []*Blob{{}}), `"p1"`, "axes")
}
