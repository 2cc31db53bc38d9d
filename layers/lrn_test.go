package layers

import (
	"math"
	"math/rand"
	"testing"
)

func TestLRNAcrossChannelsHandComputed(t *testing.T) {
	// C=3, 1x1 images, local_size 3, alpha 3 (alpha/size = 1), beta 1, k 1:
	// scale_c = 1 + Σ x² over channels c-1..c+1.
	l := buildLayer(t, `name: "norm" type: "LRN" lrn_param { local_size: 3 alpha: 3 beta: 1 k: 1 }`)
	bottom, top := blobOf([]float32{1, 2, 3}, 1, 3, 1, 1), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	near(t, "lrn", top.Data, []float32{1.0 / 6, 2.0 / 15, 3.0 / 14}, 1e-6)

	// k and beta: scale = 2 + x²/1 with size 1, y = x * scale^-0.5.
	l = buildLayer(t, `name: "norm" type: "LRN" lrn_param { local_size: 1 alpha: 1 beta: 0.5 k: 2 }`)
	top = &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	want := []float32{float32(1 / math.Sqrt(3)), float32(2 / math.Sqrt(6)), float32(3 / math.Sqrt(11))}
	near(t, "lrn k", top.Data, want, 1e-6)
}

func TestLRNWithinChannelHandComputed(t *testing.T) {
	// One 3x3 plane of ones, local_size 3, alpha 9 (alpha/size² = 1), beta 1:
	// scale = 1 + (number of in-image window cells); k is ignored, as Caffe.
	l := buildLayer(t, `name: "norm" type: "LRN" lrn_param { local_size: 3 alpha: 9 beta: 1 k: 5 norm_region: WITHIN_CHANNEL }`)
	bottom, top := NewBlob(1, 1, 3, 3), &Blob{}
	for i := range bottom.Data {
		bottom.Data[i] = 1
	}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	c, e, m := float32(1.0/5), float32(1.0/7), float32(1.0/10)
	near(t, "lrn within", top.Data, []float32{c, e, c, e, m, e, c, e, c}, 1e-6)
}

func TestLRNDefaultBetaMatchesPow(t *testing.T) {
	// The beta = 0.75 fast path must agree with the general power.
	l := &LRN{beta: 0.75}
	for _, s := range []float32{1, 1.5, 7.25, 1e3} {
		want := float32(math.Pow(float64(s), -0.75))
		if got := l.negPow(s); math.Abs(float64(got-want)) > 1e-6*float64(want) {
			t.Errorf("negPow(%g) = %g, want %g", s, got, want)
		}
	}
}

func TestLRNGradient(t *testing.T) {
	for _, text := range []string{
		`lrn_param { local_size: 5 alpha: 1 beta: 0.75 }`,
		`lrn_param { local_size: 3 alpha: 2 beta: 0.6 k: 2 }`,
		`lrn_param { local_size: 3 alpha: 1 beta: 0.75 norm_region: WITHIN_CHANNEL }`,
		`lrn_param { local_size: 5 alpha: 3 beta: 1.2 norm_region: WITHIN_CHANNEL }`,
	} {
		t.Run(text, func(t *testing.T) {
			l := buildLayer(t, `name: "norm" type: "LRN" `+text)
			bottom := randBlob(rand.New(rand.NewSource(21)), "x", 2, 7, 3, 3)
			if err := (GradCheck{Seed: 2}).Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLRNErrors(t *testing.T) {
	x := NewBlob(1, 3, 2, 2)
	wantErr(t, buildErr(t, `name: "n1" type: "LRN" lrn_param { local_size: 4 }`, []*Blob{x}, []*Blob{{}}), `"n1"`, "odd", "local_size")
	wantErr(t, buildErr(t, `name: "n2" type: "LRN"`, []*Blob{x}, []*Blob{x}), `"n2"`, "in-place")
	wantErr(t, buildErr(t, `name: "n3" type: "LRN"`, []*Blob{NewBlob(3, 4)}, []*Blob{{}}), `"n3"`, "4 axes")
}
