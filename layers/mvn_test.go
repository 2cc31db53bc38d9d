package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func TestMVNForward(t *testing.T) {
	// One sample, two channels of 4 values.
	x := []float32{1, 2, 3, 6, 0, 0, 4, 4}
	std0 := math.Sqrt((4 + 1 + 0 + 9) / 4.0) // channel 0: mean 3
	for _, tc := range []struct {
		name, text string
		want       []float32
	}{
		{"default", `name: "m" type: "MVN"`, []float32{
			float32(-2 / std0), float32(-1 / std0), 0, float32(3 / std0),
			-1, -1, 1, 1}}, // channel 1: mean 2, std 2
		{"mean only", `name: "m" type: "MVN" mvn_param { normalize_variance: false }`,
			[]float32{-2, -1, 0, 3, -2, -2, 2, 2}},
		// Across channels: mean 2.5 over all 8 values.
		{"across", `name: "m" type: "MVN" mvn_param { across_channels: true normalize_variance: false }`,
			[]float32{-1.5, -0.5, 0.5, 3.5, -2.5, -2.5, 1.5, 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := buildLayer(t, tc.text)
			top := &Blob{}
			forward(t, l, []*Blob{blobOf(x, 1, 2, 2, 2)}, []*Blob{top})
			near(t, "y", top.Data, tc.want, 1e-5)
		})
	}
}

func TestMVNGradient(t *testing.T) {
	for _, p := range []string{``, `mvn_param { normalize_variance: false }`, `mvn_param { across_channels: true }`} {
		rng := rand.New(rand.NewSource(12))
		l := buildLayer(t, `name: "m" type: "MVN" `+p)
		if err := (GradCheck{Seed: 7}).Check(l, []*Blob{randBlob(rng, "x", 2, 3, 2, 3)}, []*Blob{{}}); err != nil {
			t.Errorf("%q: %v", p, err)
		}
		checkInPlace(t, `name: "m" type: "MVN" `+p, caffepb.Phase_TRAIN, 2, 3, 2, 3)
	}
}
