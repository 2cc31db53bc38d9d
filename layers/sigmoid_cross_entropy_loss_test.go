package layers

import (
	"math"
	"math/rand"
	"testing"
)

// naiveSigmoidCE is the textbook -Σ[t log p + (1-t) log(1-p)], fine for
// moderate x.
func naiveSigmoidCE(x, t []float32) float64 {
	var s float64
	for i := range x {
		p := 1 / (1 + math.Exp(-float64(x[i])))
		s -= float64(t[i])*math.Log(p) + (1-float64(t[i]))*math.Log(1-p)
	}
	return s
}

func TestSigmoidCrossEntropyLossNormalization(t *testing.T) {
	x := []float32{0.5, -1, 2, 0, -0.3, 1.5}
	tg := []float32{1, 0, 1, 0.5, 0, 1}
	sum := naiveSigmoidCE(x, tg)
	for _, c := range []struct {
		param string
		norm  float64
	}{
		{``, 2}, // Caffe's default here is BATCH_SIZE
		{`loss_param { normalization: FULL }`, 6},
		{`loss_param { normalization: VALID }`, 6},
		{`loss_param { normalization: BATCH_SIZE }`, 2},
		{`loss_param { normalization: NONE }`, 1},
		{`loss_param { normalize: true }`, 6},
		{`loss_param { normalize: false }`, 2},
	} {
		l := buildLayer(t, `name: "loss" type: "SigmoidCrossEntropyLoss" `+c.param)
		top := &Blob{}
		forward(t, l, []*Blob{blobOf(x, 2, 3), blobOf(tg, 2, 3)}, []*Blob{top})
		near(t, c.param, top.Data, []float32{float32(sum / c.norm)}, 1e-6)
	}
}

func TestSigmoidCrossEntropyLossIgnoreAndStability(t *testing.T) {
	// ignore_label 2: those targets count neither in the loss nor in VALID.
	l := buildLayer(t, `name: "loss" type: "SigmoidCrossEntropyLoss" loss_param { ignore_label: 2 normalization: VALID }`)
	x := blobOf([]float32{0.5, 7, -1, 3}, 4)
	tg := blobOf([]float32{1, 2, 0, 2}, 4)
	top := &Blob{}
	forward(t, l, []*Blob{x, tg}, []*Blob{top})
	want := naiveSigmoidCE([]float32{0.5, -1}, []float32{1, 0}) / 2
	near(t, "ignore", top.Data, []float32{float32(want)}, 1e-6)
	top.Diff[0] = 1
	l.Backward([]*Blob{top}, []bool{true, false}, []*Blob{x, tg})
	if x.Diff[1] != 0 || x.Diff[3] != 0 {
		t.Fatalf("ignored targets got gradients %v", x.Diff)
	}

	// Large logits: the stable form gives the exact limits, no Inf/NaN.
	l = buildLayer(t, `name: "loss" type: "SigmoidCrossEntropyLoss" loss_param { normalization: NONE }`)
	top = &Blob{}
	forward(t, l, []*Blob{blobOf([]float32{200, -200, 200}, 3), blobOf([]float32{1, 0, 0}, 3)}, []*Blob{top})
	near(t, "stable", top.Data, []float32{200}, 1e-6)
}

func TestSigmoidCrossEntropyLossGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	for _, param := range []string{``, `loss_param { normalization: FULL }`} {
		l := buildLayer(t, `name: "loss" type: "SigmoidCrossEntropyLoss" `+param)
		target := NewBlob(3, 4)
		for i := range target.Data {
			target.Data[i] = rng.Float32()
		}
		bottom := []*Blob{randBlob(rng, "x", 3, 4), target}
		if err := (GradCheck{Seed: 13, Bottoms: []int{0}}).Check(l, bottom, []*Blob{{}}); err != nil {
			t.Fatalf("%q: %v", param, err)
		}
	}
	l := buildLayer(t, `name: "loss" type: "SigmoidCrossEntropyLoss"`)
	if bp, ok := l.(BottomPropagator); !ok || bp.AllowForceBackward(1) || !bp.AllowForceBackward(0) {
		t.Fatal("targets must not be back-propagated to")
	}
}

func TestSigmoidCrossEntropyLossErrors(t *testing.T) {
	wantErr(t, buildErr(t, `name: "l3" type: "SigmoidCrossEntropyLoss"`, []*Blob{NewBlob(2, 3), NewBlob(2, 2)}, []*Blob{{}}), `"l3"`, "same count")
}
