package layers

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

func TestReLUForward(t *testing.T) {
	for _, slope := range []float32{0, 0.1} {
		l := buildLayer(t, fmt.Sprintf(`name: "relu" type: "ReLU" relu_param { negative_slope: %g }`, slope))
		bottom := NewBlob(5)
		copy(bottom.Data, []float32{-2, -0.5, 0, 0.5, 3})
		top := &Blob{}
		if err := l.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		if err := l.Forward([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		for i, x := range bottom.Data {
			want := x
			if x < 0 {
				want = slope * x
			}
			if top.Data[i] != want {
				t.Errorf("slope %g: relu(%g) = %g, want %g", slope, x, top.Data[i], want)
			}
		}
	}
}

func TestReLUGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(41))
	for _, slope := range []string{"0", "0.01", "0.3"} {
		t.Run(slope, func(t *testing.T) {
			l := buildLayer(t, `name: "relu" type: "ReLU" relu_param { negative_slope: `+slope+` }`)
			bottom := randBlob(rng, "x", 2, 3, 4, 5)
			// Skip points within the step of the kink at 0.
			g := GradCheck{Seed: 5, Kink: 0, KinkRange: 0.02}
			if err := g.Check(l, []*Blob{bottom}, []*Blob{{}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReLUInPlace(t *testing.T) {
	// In place, Backward sees the output where it would see the input; the
	// gradient must equal the out-of-place one.
	rng := rand.New(rand.NewSource(42))
	for _, slope := range []string{"0", "0.2"} {
		text := `name: "relu" type: "ReLU" relu_param { negative_slope: ` + slope + ` }`
		x := randBlob(rng, "x", 3, 7)
		dy := randBlob(rng, "dy", 3, 7)

		sep, top := buildLayer(t, text), &Blob{}
		bottom := NewBlob(3, 7)
		copy(bottom.Data, x.Data)
		if err := sep.Setup([]*Blob{bottom}, []*Blob{top}); err != nil {
			t.Fatal(err)
		}
		sep.Forward([]*Blob{bottom}, []*Blob{top})
		copy(top.Diff, dy.Data)
		sep.Backward([]*Blob{top}, []bool{true}, []*Blob{bottom})

		in := buildLayer(t, text)
		blob := NewBlob(3, 7)
		copy(blob.Data, x.Data)
		if err := in.Setup([]*Blob{blob}, []*Blob{blob}); err != nil {
			t.Fatal(err)
		}
		in.Forward([]*Blob{blob}, []*Blob{blob})
		copy(blob.Diff, dy.Data)
		in.Backward([]*Blob{blob}, []bool{true}, []*Blob{blob})
		for i := range blob.Diff {
			if blob.Data[i] != top.Data[i] || blob.Diff[i] != bottom.Diff[i] {
				t.Fatalf("slope %s element %d: in place (%g, %g), separate (%g, %g)", slope, i,
					blob.Data[i], blob.Diff[i], top.Data[i], bottom.Diff[i])
			}
		}
	}
}

func TestReLUGainBits(t *testing.T) {
	slope := float32(0.25)
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1, -1, 3e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN())} {
		want := slope
		if x > 0 {
			want = 1
		}
		got := math.Float32frombits(reluGainBits(math.Float32bits(x), math.Float32bits(slope)))
		if got != want {
			t.Errorf("gain at %g (bits %#x) = %g, want %g", x, math.Float32bits(x), got, want)
		}
	}
}
