package layers

import (
	"math"
	"math/rand"
	"testing"
)

// labelBlob returns labels drawn from [0, classes), with every fourth set
// to ignore when ignore >= 0 (so some positions are ignored).
func labelBlob(rng *rand.Rand, classes, ignore int, shape ...int) *Blob {
	b := NewBlob(shape...)
	b.Name = "label"
	for i := range b.Data {
		b.Data[i] = float32(rng.Intn(classes))
		if ignore >= 0 && i%4 == 1 {
			b.Data[i] = float32(ignore)
		}
	}
	return b
}

func TestSoftmaxWithLossForward(t *testing.T) {
	rng := rand.New(rand.NewSource(61))
	// Scores 3 x 4 x 2 (axis 1: 4 classes, inner 2), labels 3 x 1 x 2.
	scores := randBlob(rng, "scores", 3, 4, 2)
	labels := labelBlob(rng, 4, 2, 3, 1, 2) // label value 2 ignored below
	// Reference: per position -log softmax, summed over the kept ones.
	var sumAll, sumKept float64
	kept := 0
	for n := 0; n < 3; n++ {
		for j := 0; j < 2; j++ {
			var z float64
			for c := 0; c < 4; c++ {
				z += math.Exp(float64(scores.Data[(n*4+c)*2+j]))
			}
			lv := int(labels.Data[n*2+j])
			nll := -(float64(scores.Data[(n*4+lv)*2+j]) - math.Log(z))
			sumAll += nll
			if lv != 2 {
				sumKept += nll
				kept++
			}
		}
	}
	cases := []struct {
		name  string
		param string
		want  float64
	}{
		{"default VALID", ``, sumAll / 6},
		{"VALID ignore", `loss_param { ignore_label: 2 }`, sumKept / float64(kept)},
		{"FULL ignore", `loss_param { ignore_label: 2 normalization: FULL }`, sumKept / 6},
		{"BATCH_SIZE ignore", `loss_param { ignore_label: 2 normalization: BATCH_SIZE }`, sumKept / 3},
		{"NONE ignore", `loss_param { ignore_label: 2 normalization: NONE }`, sumKept},
		{"legacy normalize false", `loss_param { ignore_label: 2 normalize: false }`, sumKept / 3},
		{"legacy normalize true", `loss_param { ignore_label: 2 normalize: true normalization: NONE }`, sumKept / float64(kept)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, `name: "loss" type: "SoftmaxWithLoss" `+c.param)
			top := []*Blob{{Name: "loss"}, {Name: "prob"}}
			bottom := []*Blob{scores, labels}
			if err := l.Setup(bottom, top); err != nil {
				t.Fatal(err)
			}
			if top[0].NumAxes() != 0 || top[0].Count() != 1 {
				t.Fatalf("loss shape %v", top[0].Shape())
			}
			if err := l.Forward(bottom, top); err != nil {
				t.Fatal(err)
			}
			if got := float64(top[0].Data[0]); math.Abs(got-c.want) > 1e-5*math.Max(1, c.want) {
				t.Errorf("loss %g, want %g", got, c.want)
			}
			// The second top holds the probabilities: each column sums to 1.
			for n := 0; n < 3; n++ {
				for j := 0; j < 2; j++ {
					var s float32
					for c := 0; c < 4; c++ {
						s += top[1].Data[(n*4+c)*2+j]
					}
					if math.Abs(float64(s-1)) > 1e-5 {
						t.Fatalf("probabilities at (%d,%d) sum to %g", n, j, s)
					}
				}
			}
		})
	}
	if !buildLayer(t, `name: "loss" type: "SoftmaxWithLoss"`).(LossLayer).IsLoss() {
		t.Error("IsLoss is false")
	}
	bp := buildLayer(t, `name: "loss" type: "SoftmaxWithLoss"`).(BottomPropagator)
	if !bp.AllowForceBackward(0) || bp.AllowForceBackward(1) {
		t.Error("AllowForceBackward must be true for the scores and false for the labels")
	}
}

func TestSoftmaxWithLossGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(62))
	params := []string{
		``,
		`loss_param { ignore_label: 1 }`,
		`loss_param { ignore_label: 1 normalization: FULL }`,
		`loss_param { ignore_label: 1 normalization: BATCH_SIZE }`,
		`loss_param { ignore_label: 1 normalization: NONE }`,
		`loss_param { normalize: false }`,
		`softmax_param { axis: 2 } loss_param { ignore_label: 0 }`,
	}
	for _, p := range params {
		t.Run(p, func(t *testing.T) {
			l := buildLayer(t, `name: "loss" type: "SoftmaxWithLoss" `+p)
			scores := randBlob(rng, "scores", 4, 3, 2)
			var labels *Blob
			if p == `softmax_param { axis: 2 } loss_param { ignore_label: 0 }` {
				labels = labelBlob(rng, 2, 0, 4, 3) // softmax over the 2 of axis 2
			} else {
				labels = labelBlob(rng, 3, 1, 4, 1, 2)
			}
			g := GradCheck{Seed: 7, Bottoms: []int{0}}
			if err := g.Check(l, []*Blob{scores, labels}, []*Blob{{Name: "loss"}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSoftmaxWithLossScalesByLossWeight(t *testing.T) {
	// The net puts loss_weight in top[0].Diff[0]; the gradient must scale.
	rng := rand.New(rand.NewSource(63))
	scores := randBlob(rng, "scores", 5, 4)
	labels := labelBlob(rng, 4, -1, 5)
	l := buildLayer(t, `name: "loss" type: "SoftmaxWithLoss"`)
	top := []*Blob{{}}
	bottom := []*Blob{scores, labels}
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	l.Forward(bottom, top)
	top[0].Diff[0] = 1
	l.Backward(top, []bool{true, false}, bottom)
	g1 := append([]float32(nil), scores.Diff...)
	top[0].Diff[0] = 2.5
	l.Backward(top, []bool{true, false}, bottom)
	for i := range g1 {
		if math.Abs(float64(scores.Diff[i]-2.5*g1[i])) > 1e-6 {
			t.Fatalf("gradient %d: %g with weight 2.5, %g with weight 1", i, scores.Diff[i], g1[i])
		}
	}
	// Labels are untouched.
	for i, v := range labels.Diff {
		if v != 0 {
			t.Fatalf("label diff %d = %g", i, v)
		}
	}
}

func TestSoftmaxWithLossErrors(t *testing.T) {
	l := buildLayer(t, `name: "loss_bad" type: "SoftmaxWithLoss"`)
	wantErr(t, l.Setup([]*Blob{NewBlob(4, 3), NewBlob(4, 2)}, []*Blob{{}}), `"loss_bad"`, "number of labels")
	wantErr(t, l.Setup([]*Blob{NewBlob(4, 3), NewBlob(3)}, []*Blob{{}}), `"loss_bad"`, "first dimension")
	wantErr(t, l.Setup([]*Blob{NewBlob(4, 3)}, []*Blob{{}}), `"loss_bad"`, "bottom")
	// A label outside [0, classes) fails Forward, naming the layer.
	bottom := []*Blob{NewBlob(2, 3), NewBlob(2)}
	bottom[1].Data[1] = 3
	top := []*Blob{{}}
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.Forward(bottom, top), `"loss_bad"`, "label 3")
	bottom[1].Data[1] = -1
	wantErr(t, l.Forward(bottom, top), `"loss_bad"`, "label -1")
	// ... unless it is the ignore_label.
	l = buildLayer(t, `name: "loss_ign" type: "SoftmaxWithLoss" loss_param { ignore_label: -1 }`)
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	if err := l.Forward(bottom, top); err != nil {
		t.Fatal(err)
	}
}
