package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// Exp, Log, BNLL and Threshold against values worked out by hand, then
// gradient checks, in and out of place.
func TestExtraNeuronForward(t *testing.T) {
	x := []float32{-1, 0, 0.5, 2}
	for _, tc := range []struct {
		name, text string
		x          []float32
		want       []float32
	}{
		{"exp default", `name: "e" type: "Exp"`, x,
			[]float32{float32(math.Exp(-1)), 1, float32(math.Exp(0.5)), float32(math.Exp(2))}},
		// 2^(1 + 3x)
		{"exp base 2", `name: "e" type: "Exp" exp_param { base: 2 scale: 3 shift: 1 }`, x,
			[]float32{0.25, 2, float32(math.Pow(2, 2.5)), 128}},
		{"log default", `name: "l" type: "Log"`, []float32{1, math.E, 0.5, 4},
			[]float32{0, 1, float32(math.Log(0.5)), float32(math.Log(4))}},
		// log10(1 + 2x)
		{"log base 10", `name: "l" type: "Log" log_param { base: 10 scale: 2 shift: 1 }`, []float32{0, 4.5, 49.5, 0.5},
			[]float32{0, 1, 2, float32(math.Log10(2))}},
		{"bnll", `name: "b" type: "BNLL"`, []float32{-100, 0, 1, 100},
			[]float32{0, float32(math.Log(2)), float32(math.Log1p(math.E)), 100}},
		{"threshold", `name: "t" type: "Threshold" threshold_param { threshold: 0.5 }`, x,
			[]float32{0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := buildLayer(t, tc.text)
			top := &Blob{}
			forward(t, l, []*Blob{blobOf(tc.x, 2, 2)}, []*Blob{top})
			near(t, "y", top.Data, tc.want, 1e-5)
		})
	}
}

func TestExtraNeuronGradient(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		positive   bool // keep x > 0 (Log's domain)
	}{
		{"exp", `name: "e" type: "Exp" exp_param { base: 3 scale: 0.5 shift: -1 }`, false},
		{"log", `name: "l" type: "Log" log_param { base: 2 scale: 2 shift: 0.5 }`, true},
		{"bnll", `name: "b" type: "BNLL"`, false},
	} {
		rng := rand.New(rand.NewSource(9))
		x := randBlob(rng, "x", 2, 3, 4)
		if tc.positive {
			for i, v := range x.Data {
				x.Data[i] = float32(math.Abs(float64(v))) + 0.2
			}
		}
		l := buildLayer(t, tc.text)
		if err := (GradCheck{Seed: 4}).Check(l, []*Blob{x}, []*Blob{{}}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// In place gives the same output and gradient (Log and BNLL keep x).
	for _, text := range []string{`type: "Exp" exp_param { scale: 0.5 }`, `type: "Log" log_param { shift: 10 }`, `type: "BNLL"`, `type: "Threshold"`} {
		t.Run(text, func(t *testing.T) { checkInPlace(t, `name: "n" `+text, caffepb.Phase_TRAIN, 2, 3, 4) })
	}
	// Threshold's gradient is zero wherever it exists.
	rng := rand.New(rand.NewSource(2))
	l := buildLayer(t, `name: "t" type: "Threshold"`)
	x := randBlob(rng, "x", 3, 4)
	if err := (GradCheck{Seed: 4, Kink: 0, KinkRange: 0.05}).Check(l, []*Blob{x}, []*Blob{{}}); err != nil {
		t.Error(err)
	}
}

func TestExtraNeuronErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`name: "e1" type: "Exp" exp_param { base: -2 }`, "exp_param.base"},
		{`name: "l1" type: "Log" log_param { base: 1 }`, "log_param.base"},
	} {
		lp := parseLayer(t, tc.text)
		ctor, err := Lookup(lp.GetType())
		if err != nil {
			t.Fatal(err)
		}
		_, err = ctor(lp, &Context{})
		wantErr(t, err, lp.GetName(), tc.want)
	}
}
