package layers

import (
	"math"
	"math/rand"
	"testing"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// buildLayerIn constructs a registered layer from prototxt text for a
// phase, with the given random source (test helper of the breadth layers).
func buildLayerIn(t *testing.T, text string, phase caffepb.Phase, rng *rand.Rand) Layer {
	t.Helper()
	lp := parseLayer(t, text)
	ctor, err := Lookup(lp.GetType())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctor(lp, &Context{Phase: phase, Rand: rng})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// buildErr returns the error of constructing and setting up a layer.
func buildErr(t *testing.T, text string, bottom, top []*Blob) error {
	t.Helper()
	lp := parseLayer(t, text)
	ctor, err := Lookup(lp.GetType())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctor(lp, &Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(7))})
	if err != nil {
		return err
	}
	return l.Setup(bottom, top)
}

// forward sets the layer up and runs one Forward, failing the test on error.
func forward(t *testing.T, l Layer, bottom, top []*Blob) {
	t.Helper()
	if err := l.Setup(bottom, top); err != nil {
		t.Fatal(err)
	}
	if err := l.Forward(bottom, top); err != nil {
		t.Fatal(err)
	}
}

// blobOf returns a blob of the given shape holding vals.
func blobOf(vals []float32, shape ...int) *Blob {
	b := NewBlob(shape...)
	copy(b.Data, vals)
	return b
}

// near fails unless got and want agree within tol (relative to max(1,|want|)).
func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %g, want %g (all: %v, want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

// checkInPlace runs a layer out of place and in place (top = bottom) on
// the same input and top gradient, and requires the same output, bottom
// gradient and param gradients. Both layers are built with the same seed.
func checkInPlace(t *testing.T, text string, phase caffepb.Phase, shape ...int) {
	t.Helper()
	rng := rand.New(rand.NewSource(77))
	x := randBlob(rng, "x", shape...)
	dy := randBlob(rng, "dy", shape...)
	run := func(inPlace bool) (y, dx []float32, pd [][]float32) {
		l := buildLayerIn(t, text, phase, rand.New(rand.NewSource(5)))
		bottom := NewBlob(shape...)
		copy(bottom.Data, x.Data)
		top := bottom
		if !inPlace {
			top = &Blob{}
		}
		forward(t, l, []*Blob{bottom}, []*Blob{top})
		y = append([]float32(nil), top.Data...)
		copy(top.Diff, dy.Data)
		for _, p := range l.Params() {
			p.ZeroDiff()
		}
		l.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})
		for _, p := range l.Params() {
			pd = append(pd, append([]float32(nil), p.Diff...))
		}
		return y, append([]float32(nil), bottom.Diff...), pd
	}
	y1, dx1, p1 := run(false)
	y2, dx2, p2 := run(true)
	near(t, "in-place top", y2, y1, 1e-6)
	near(t, "in-place bottom diff", dx2, dx1, 1e-5)
	for i := range p1 {
		near(t, "in-place param diff", p2[i], p1[i], 1e-5)
	}
}

func TestNeuronForwardHandComputed(t *testing.T) {
	x := []float32{-2, -0.5, 0, 1, 2}
	cases := []struct {
		text string
		want []float32
	}{
		{`type: "Sigmoid"`, []float32{0.11920292, 0.37754067, 0.5, 0.7310586, 0.8807971}},
		{`type: "TanH"`, []float32{-0.9640276, -0.46211717, 0, 0.7615942, 0.9640276}},
		{`type: "AbsVal"`, []float32{2, 0.5, 0, 1, 2}},
		{`type: "ELU"`, []float32{-0.86466473, -0.39346933, 0, 1, 2}},
		{`type: "ELU" elu_param { alpha: 0.5 }`, []float32{-0.43233237, -0.19673467, 0, 1, 2}},
		{`type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }`, []float32{0, 0.5625, 1, 2.25, 4}},
		{`type: "Power" power_param { power: 1 scale: -3 shift: 0.5 }`, []float32{6.5, 2, 0.5, -2.5, -5.5}},
		{`type: "Power" power_param { power: 3 }`, []float32{-8, -0.125, 0, 1, 8}},
		// power*scale == 0: Caffe's constant output.
		{`type: "Power" power_param { power: 0 scale: 2 shift: 3 }`, []float32{1, 1, 1, 1, 1}},
		{`type: "Power" power_param { power: 2 scale: 0 shift: 3 }`, []float32{9, 9, 9, 9, 9}},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "n" `+c.text)
			bottom, top := blobOf(x, 5), &Blob{}
			forward(t, l, []*Blob{bottom}, []*Blob{top})
			near(t, "top", top.Data, c.want, 1e-6)
		})
	}
}

func TestNeuronGradients(t *testing.T) {
	cases := []struct {
		text     string
		positive bool    // shift inputs to be > 0.1 (fractional powers)
		kink     float64 // skip |x| < kink (AbsVal, ELU at 0)
	}{
		{text: `type: "Sigmoid"`},
		{text: `type: "TanH"`},
		{text: `type: "AbsVal"`, kink: 0.02},
		{text: `type: "ELU"`, kink: 0.02},
		{text: `type: "ELU" elu_param { alpha: 0.3 }`, kink: 0.02},
		{text: `type: "Power" power_param { power: 1 scale: 2 shift: 0.5 }`},
		{text: `type: "Power" power_param { power: 2 scale: 0.5 shift: -1 }`},
		{text: `type: "Power" power_param { power: 3 scale: 0.7 shift: 0.2 }`},
		{text: `type: "Power" power_param { power: 0.37 scale: 0.8 shift: 0.1 }`, positive: true},
		{text: `type: "Power" power_param { power: -1.5 scale: 1 shift: 0.5 }`, positive: true},
		{text: `type: "Power" power_param { power: 0 scale: 1 shift: 2 }`},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			rng := rand.New(rand.NewSource(11))
			l := buildLayer(t, `name: "n" `+c.text)
			bottom := randBlob(rng, "x", 2, 3, 2, 3)
			if c.positive {
				for i, v := range bottom.Data {
					bottom.Data[i] = float32(math.Abs(float64(v))) + 0.5
				}
			}
			g := GradCheck{Seed: 3, KinkRange: c.kink}
			if err := g.Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNeuronInPlace(t *testing.T) {
	for _, text := range []string{
		`type: "Sigmoid"`, `type: "TanH"`, `type: "AbsVal"`, `type: "ELU" elu_param { alpha: 0.7 }`,
		`type: "Power" power_param { power: 2 scale: 0.5 shift: 0.25 }`,
		`type: "Power" power_param { power: 3 scale: 1.5 }`,
		`type: "Power" power_param { power: 1 scale: 1.5 shift: 1 }`,
		`type: "PReLU"`, `type: "PReLU" prelu_param { channel_shared: true }`,
	} {
		t.Run(text, func(t *testing.T) { checkInPlace(t, `name: "n" `+text, caffepb.Phase_TRAIN, 2, 3, 4) })
	}
}

func TestNeuronErrors(t *testing.T) {
	b := NewBlob(2, 3)
	wantErr(t, buildErr(t, `name: "s" type: "Sigmoid"`, []*Blob{b, b}, []*Blob{{}}), `"s"`, "Sigmoid", "bottom")
	wantErr(t, buildErr(t, `name: "e" type: "ELU" elu_param { alpha: -1 }`, []*Blob{b}, []*Blob{b}), `"e"`, "in-place", "alpha")
}
