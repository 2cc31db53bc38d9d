package layers

import (
	"math"
	"testing"
)

func TestAccuracyHandComputed(t *testing.T) {
	// 5 samples x 4 classes. Ranks of the true label per sample:
	// s0 label 0 rank 1; s1 label 2 rank 2; s2 label 3 rank 3;
	// s3 label 1 rank 1; s4 label 1 tied for first with class 0.
	scores := []float32{
		0.9, 0.1, 0.0, 0.0,
		0.1, 0.5, 0.3, 0.1,
		0.4, 0.3, 0.1, 0.2,
		0.0, 0.8, 0.1, 0.1,
		0.5, 0.5, 0.0, 0.0,
	}
	labels := []float32{0, 2, 3, 1, 1}
	cases := []struct {
		name     string
		param    string
		want     float32
		perClass []float32
	}{
		// Ties count against the prediction (s4 wrong at top 1), as in Caffe.
		{"top1", ``, 2.0 / 5, []float32{1, 0.5, 0, 0}},
		{"top2", `accuracy_param { top_k: 2 }`, 4.0 / 5, []float32{1, 1, 1, 0}},
		{"top3", `accuracy_param { top_k: 3 }`, 1, []float32{1, 1, 1, 1}},
		{"top1 ignore 1", `accuracy_param { ignore_label: 1 }`, 1.0 / 3, []float32{1, 0, 0, 0}},
		{"top2 ignore 3", `accuracy_param { top_k: 2 ignore_label: 3 }`, 1, []float32{1, 1, 1, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, `name: "acc" type: "Accuracy" `+c.param)
			bottom := []*Blob{NewBlob(5, 4), NewBlob(5)}
			copy(bottom[0].Data, scores)
			copy(bottom[1].Data, labels)
			top := []*Blob{{}, {}}
			if err := l.Setup(bottom, top); err != nil {
				t.Fatal(err)
			}
			if !top[1].ShapeEquals([]int{4}) {
				t.Fatalf("per-class top shape %v", top[1].Shape())
			}
			for rep := 0; rep < 2; rep++ { // a second pass must not accumulate
				if err := l.Forward(bottom, top); err != nil {
					t.Fatal(err)
				}
				if math.Abs(float64(top[0].Data[0]-c.want)) > 1e-6 {
					t.Errorf("accuracy %g, want %g", top[0].Data[0], c.want)
				}
				for i, w := range c.perClass {
					if math.Abs(float64(top[1].Data[i]-w)) > 1e-6 {
						t.Errorf("class %d accuracy %g, want %g", i, top[1].Data[i], w)
					}
				}
			}
		})
	}
}

func TestAccuracySpatial(t *testing.T) {
	// Axis 1 with inner 2: scores 1 x 3 x 2, labels 1 x 2.
	l := buildLayer(t, `name: "acc" type: "Accuracy"`)
	bottom := []*Blob{NewBlob(1, 3, 2), NewBlob(1, 2)}
	copy(bottom[0].Data, []float32{
		0.1, 0.7, // class 0 at positions 0, 1
		0.8, 0.2, // class 1
		0.1, 0.1, // class 2
	})
	copy(bottom[1].Data, []float32{1, 2})
	top := []*Blob{{}}
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	if err := l.Forward(bottom, top); err != nil {
		t.Fatal(err)
	}
	if top[0].Data[0] != 0.5 {
		t.Errorf("accuracy %g, want 0.5", top[0].Data[0])
	}
	if bp, ok := l.(BottomPropagator); !ok || bp.AllowForceBackward(0) {
		t.Error("Accuracy must refuse force_backward")
	}
}

func TestAccuracyErrors(t *testing.T) {
	l := buildLayer(t, `name: "acc_bad" type: "Accuracy" accuracy_param { top_k: 5 }`)
	wantErr(t, l.Setup([]*Blob{NewBlob(2, 4), NewBlob(2)}, []*Blob{{}}), `"acc_bad"`, "top_k")
	l = buildLayer(t, `name: "acc_bad" type: "Accuracy"`)
	wantErr(t, l.Setup([]*Blob{NewBlob(2, 4), NewBlob(3)}, []*Blob{{}}), `"acc_bad"`, "number of labels")
	bottom := []*Blob{NewBlob(2, 4), NewBlob(2)}
	bottom[1].Data[0] = 4
	top := []*Blob{{}}
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	wantErr(t, l.Forward(bottom, top), `"acc_bad"`, "label 4")
}
