package layers

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func TestDropoutTrainMaskAndScale(t *testing.T) {
	for _, ratio := range []float32{0.2, 0.5, 0.8} {
		l := buildLayerIn(t, fmt.Sprintf(`name: "drop" type: "Dropout" dropout_param { dropout_ratio: %g }`, ratio),
			caffepb.Phase_TRAIN, rand.New(rand.NewSource(1)))
		n := 20000
		bottom, top := NewBlob(n), &Blob{}
		for i := range bottom.Data {
			bottom.Data[i] = float32(i%7) + 1
		}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		scale := 1 / (1 - ratio)
		dropped := 0
		for i, y := range top.Data {
			switch y {
			case 0:
				dropped++
			case bottom.Data[i] * scale:
			default:
				t.Fatalf("ratio %g: y[%d] = %g, want 0 or %g", ratio, i, y, bottom.Data[i]*scale)
			}
		}
		if frac := float64(dropped) / float64(n); frac < float64(ratio)-0.02 || frac > float64(ratio)+0.02 {
			t.Errorf("ratio %g: dropped fraction %g", ratio, frac)
		}
		// Backward uses the forward mask and scale.
		for i := range top.Diff {
			top.Diff[i] = 1
		}
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
		for i, d := range bottom.Diff {
			want := float32(0)
			if top.Data[i] != 0 {
				want = scale
			}
			if d != want {
				t.Fatalf("ratio %g: dx[%d] = %g, want %g", ratio, i, d, want)
			}
		}
	}
}

func TestDropoutTestPhaseIsIdentity(t *testing.T) {
	l := buildLayerIn(t, `name: "drop" type: "Dropout" dropout_param { dropout_ratio: 0.6 }`, caffepb.Phase_TEST, rand.New(rand.NewSource(1)))
	rng := rand.New(rand.NewSource(2))
	bottom, top := randBlob(rng, "x", 4, 5), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	near(t, "test-phase top", top.Data, bottom.Data, 0)
	FillGaussian(rng, 1, top.Diff)
	l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
	near(t, "test-phase bottom diff", bottom.Diff, top.Diff, 0)

	// A layer-level phase overrides the net's, as in Caffe.
	l = buildLayerIn(t, `name: "drop" type: "Dropout" phase: TEST`, caffepb.Phase_TRAIN, rand.New(rand.NewSource(1)))
	top = &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	near(t, "phase: TEST top", top.Data, bottom.Data, 0)
}

func TestDropoutSeededMaskReproducible(t *testing.T) {
	run := func() []float32 {
		l := buildLayerIn(t, `name: "drop" type: "Dropout"`, caffepb.Phase_TRAIN, rand.New(rand.NewSource(9)))
		bottom, top := NewBlob(64), &Blob{}
		for i := range bottom.Data {
			bottom.Data[i] = 1
		}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		return top.Data
	}
	near(t, "same seed, same mask", run(), run(), 0)
}

func TestDropoutGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	l := buildLayerIn(t, `name: "drop" type: "Dropout" dropout_param { dropout_ratio: 0.3 }`, caffepb.Phase_TRAIN, rng)
	bottom := randBlob(rand.New(rand.NewSource(4)), "x", 2, 3, 4)
	// Reseeding before every Forward fixes the mask across evaluations.
	g := GradCheck{Seed: 1, BeforeForward: func() { rng.Seed(99) }}
	if err := g.Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
		t.Fatal(err)
	}
}

func TestDropoutInPlace(t *testing.T) {
	checkInPlace(t, `name: "drop" type: "Dropout" dropout_param { dropout_ratio: 0.4 }`, caffepb.Phase_TRAIN, 3, 5, 2)
	checkInPlace(t, `name: "drop" type: "Dropout"`, caffepb.Phase_TEST, 3, 5)
}

func TestDropoutBadRatio(t *testing.T) {
	for _, r := range []string{"1", "-0.1", "1.5"} {
		wantErr(t, buildErr(t, `name: "d7" type: "Dropout" dropout_param { dropout_ratio: `+r+` }`, []*Blob{NewBlob(2)}, []*Blob{{}}),
			`"d7"`, "dropout_ratio")
	}
}

func TestProtoBoolFieldDefaults(t *testing.T) {
	// BVLC's DropoutParameter has no scale_train: the default applies.
	if !protoBoolField(&caffepb.DropoutParameter{}, "scale_train", true) {
		t.Error("missing field should give the default")
	}
	// A declared bool field is read, set or not.
	if protoBoolField((*caffepb.ConvolutionParameter)(nil), "bias_term", false) != true {
		t.Error("unset bias_term should read its proto default true")
	}
	f := false
	if protoBoolField(&caffepb.ConvolutionParameter{BiasTerm: &f}, "bias_term", true) {
		t.Error("bias_term false not read")
	}
}

func TestDropoutWithoutScaleTrain(t *testing.T) {
	// The forks' scale_train: false keeps units unscaled in TRAIN and
	// scales by 1-ratio in TEST (set directly: BVLC's proto lacks the field).
	for _, phase := range []caffepb.Phase{caffepb.Phase_TRAIN, caffepb.Phase_TEST} {
		l := buildLayerIn(t, `name: "drop" type: "Dropout" dropout_param { dropout_ratio: 0.25 }`, phase, rand.New(rand.NewSource(1))).(*Dropout)
		l.scaleTrain = false
		bottom, top := NewBlob(1000), &Blob{}
		for i := range bottom.Data {
			bottom.Data[i] = 2
		}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		for _, y := range top.Data {
			ok := (phase == caffepb.Phase_TRAIN && (y == 0 || y == 2)) || (phase == caffepb.Phase_TEST && y == 1.5)
			if !ok {
				t.Fatalf("%v: y = %g", phase, y)
			}
		}
	}
}
