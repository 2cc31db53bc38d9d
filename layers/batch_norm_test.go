package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

func TestBatchNormTrainingForwardAndStatistics(t *testing.T) {
	// N=2, C=2, 1x2 planes. Channel 0 holds 1,2,3,4; channel 1 holds 10,10,10,14.
	x := []float32{1, 2, 10, 10, 3, 4, 10, 14}
	l := buildLayerIn(t, `name: "bn" type: "BatchNorm" batch_norm_param { eps: 0 moving_average_fraction: 0.5 }`,
		caffepb.Phase_TRAIN, rand.New(rand.NewSource(1)))
	bottom, top := blobOf(x, 2, 2, 1, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	// Channel 0: mean 2.5, biased variance 1.25. Channel 1: mean 11, variance 3.
	s0, s1 := float32(math.Sqrt(1.25)), float32(math.Sqrt(3))
	want := []float32{-1.5 / s0, -0.5 / s0, -1 / s1, -1 / s1, 0.5 / s0, 1.5 / s0, -1 / s1, 3 / s1}
	near(t, "bn train", top.Data, want, 1e-6)
	p := l.Params()
	// After one pass: blob2 = 1, blob0 = mean, blob1 = unbiased variance (m=4: *4/3).
	near(t, "mean sum", p[0].Data, []float32{2.5, 11}, 1e-6)
	near(t, "variance sum", p[1].Data, []float32{1.25 * 4 / 3, 4}, 1e-6)
	near(t, "scale factor", p[2].Data, []float32{1}, 0)
	// Second pass with maf 0.5: sums are decayed then added.
	if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
		t.Fatal(err)
	}
	near(t, "mean sum 2", p[0].Data, []float32{2.5 * 1.5, 11 * 1.5}, 1e-6)
	near(t, "scale factor 2", p[2].Data, []float32{1.5}, 0)
}

func TestBatchNormGlobalStatsUseScaleFactor(t *testing.T) {
	// Stored sums 4 and 18 with normalizer 2 mean an estimated mean 2 and
	// variance 9, so y = (x-2)/3; TEST uses global stats by default.
	for _, c := range []struct {
		text  string
		phase caffepb.Phase
	}{
		{`name: "bn" type: "BatchNorm" batch_norm_param { eps: 0 }`, caffepb.Phase_TEST},
		{`name: "bn" type: "BatchNorm" batch_norm_param { eps: 0 use_global_stats: true }`, caffepb.Phase_TRAIN},
	} {
		l := buildLayerIn(t, c.text, c.phase, rand.New(rand.NewSource(1)))
		bottom, top := blobOf([]float32{5, 2, -1, 8}, 4, 1), &Blob{}
		if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		p := l.Params()
		p[0].Data[0], p[1].Data[0], p[2].Data[0] = 4, 18, 2
		if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		near(t, "bn global", top.Data, []float32{1, 0, -1, 2}, 1e-6)
		near(t, "stats untouched", []float32{p[0].Data[0], p[1].Data[0], p[2].Data[0]}, []float32{4, 18, 2}, 0)
		// dx = dy / std.
		copy(top.Diff, []float32{3, 6, -3, 0})
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
		near(t, "bn global dx", bottom.Diff, []float32{1, 2, -1, 0}, 1e-6)
	}
	// A zero normalizer means zero estimates: y = x / sqrt(eps).
	l := buildLayerIn(t, `name: "bn" type: "BatchNorm" batch_norm_param { eps: 0.25 }`, caffepb.Phase_TEST, nil)
	bottom, top := blobOf([]float32{1, -2}, 2, 1), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	near(t, "bn zero factor", top.Data, []float32{2, -4}, 1e-6)
}

func TestBatchNormGradient(t *testing.T) {
	for _, shape := range [][]int{{3, 2, 2, 2}, {5, 3}} {
		l := buildLayer(t, `name: "bn" type: "BatchNorm"`)
		bottom := randBlob(rand.New(rand.NewSource(6)), "x", shape...)
		// The statistics are not learned: no param check.
		g := GradCheck{Seed: 1, SkipParams: true, Step: 1e-3}
		if err := g.Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
	}
	l := buildLayerIn(t, `name: "bn" type: "BatchNorm"`, caffepb.Phase_TEST, nil)
	bottom := randBlob(rand.New(rand.NewSource(6)), "x", 2, 3, 2)
	if err := (GradCheck{Seed: 1, SkipParams: true}).Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
		t.Fatalf("global stats: %v", err)
	}
}

func TestBatchNormInPlace(t *testing.T) {
	checkInPlace(t, `name: "bn" type: "BatchNorm"`, caffepb.Phase_TRAIN, 3, 2, 2, 2)
	checkInPlace(t, `name: "bn" type: "BatchNorm"`, caffepb.Phase_TEST, 3, 2, 2)
}

func TestBatchNormParamsNotLearned(t *testing.T) {
	lp := parseLayer(t, `name: "bn" type: "BatchNorm" param { lr_mult: 0 }`)
	ctor, _ := Lookup("BatchNorm")
	l, err := ctor(lp, &Context{})
	if err != nil {
		t.Fatal(err)
	}
	// Caffe masks the statistics from the solver with lr_mult 0 specs.
	if len(lp.Param) != 3 {
		t.Fatalf("%d param specs, want 3", len(lp.Param))
	}
	for i, ps := range lp.Param {
		if ps.GetLrMult() != 0 {
			t.Errorf("param %d lr_mult %g, want 0", i, ps.GetLrMult())
		}
	}
	ng, ok := l.(NoGradientParams)
	if !ok {
		t.Fatal("BatchNorm does not implement NoGradientParams")
	}
	bottom, top := randBlob(rand.New(rand.NewSource(1)), "x", 4, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	for i, p := range l.Params() {
		if !ng.NoGradientParam(i) {
			t.Errorf("param %d reported as learned", i)
		}
		for j := range p.Diff {
			p.Diff[j] = 42
		}
	}
	FillGaussian(rand.New(rand.NewSource(2)), 1, top.Diff)
	l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
	for i, p := range l.Params() {
		for _, d := range p.Diff {
			if d != 42 {
				t.Fatalf("Backward wrote param %d diff", i)
			}
		}
	}
	wantErr(t, func() error {
		_, err := ctor(parseLayer(t, `name: "bn9" type: "BatchNorm" param { lr_mult: 0 } param { lr_mult: 1 }`), nil)
		return err
	}(), `"bn9"`, "lr_mult")
}

func TestBatchNormLoadsCaffeBlobs(t *testing.T) {
	l := buildLayerIn(t, `name: "bn" type: "BatchNorm"
		blobs { shape { dim: 2 } data: 2 data: 4 }
		blobs { shape { dim: 2 } data: 8 data: 32 }
		blobs { shape { dim: 1 } data: 2 }`, caffepb.Phase_TEST, nil)
	bottom, top := blobOf([]float32{3, 6}, 1, 2), &Blob{}
	forward(t, l, []*Blob{bottom}, []*Blob{top})
	// means 1, 2; variances 4, 16.
	near(t, "loaded stats", top.Data, []float32{1, 1}, 1e-5)
}

func TestBatchNormInPlaceSurvivesLaterInPlaceLayer(t *testing.T) {
	// The ResNet block runs BatchNorm then Scale in place on one blob: the
	// Scale overwrites y before BatchNorm's Backward, which must still use
	// its own normalized values.
	rng := rand.New(rand.NewSource(31))
	x := randBlob(rng, "x", 3, 2, 2)
	dy := randBlob(rng, "dy", 3, 2, 2)
	run := func(clobber bool) []float32 {
		l := buildLayer(t, `name: "bn" type: "BatchNorm"`)
		b := NewBlob(3, 2, 2)
		copy(b.Data, x.Data)
		forward(t, l, []*Blob{b}, []*Blob{b})
		if clobber {
			for i := range b.Data {
				b.Data[i] = 3*b.Data[i] + 1
			}
		}
		copy(b.Diff, dy.Data)
		l.Backward([]*Blob{b}, []bool{true}, []*Blob{b})
		return b.Diff
	}
	near(t, "dx after the top was overwritten", run(true), run(false), 1e-6)
}
