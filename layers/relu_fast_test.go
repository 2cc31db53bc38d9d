package layers

import (
	"math"
	"math/rand"
	"testing"
)

// The slope-0 bit forms must give the bits of Caffe's formulas
// (max(v,0) + 0*min(v,0) and dy*gain) for every kind of float: signed
// zeros, subnormals, infinities, NaNs, and ordinary values of both signs.
func TestReLUSlopeZeroMatchesFormula(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 1e-45, -1e-45,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN()),
		math.MaxFloat32, -math.MaxFloat32, 3.5, -2.25}
	rng := rand.New(rand.NewSource(1))
	var x, dy []float32
	for _, a := range special {
		for _, b := range special {
			x, dy = append(x, a), append(dy, b)
		}
	}
	for i := 0; i < 1000; i++ {
		x, dy = append(x, float32(rng.NormFloat64())), append(dy, float32(rng.NormFloat64()))
	}
	y := make([]float32, len(x))
	dx := make([]float32, len(x))
	reluForward(x, y, 0)
	reluBackward(x, dy, dx, 0)
	same := func(a, b float32) bool {
		if a != a || b != b { // any NaN for a NaN
			return a != a && b != b
		}
		return math.Float32bits(a) == math.Float32bits(b)
	}
	for i, v := range x {
		if want := max(v, 0) + 0*min(v, 0); !same(y[i], want) {
			t.Errorf("forward(%v) = %v (%#x), formula %v (%#x)", v, y[i], math.Float32bits(y[i]), want, math.Float32bits(want))
		}
		gain := float32(0)
		if v > 0 {
			gain = 1
		}
		if want := dy[i] * gain; !same(dx[i], want) {
			t.Errorf("backward(x=%v, dy=%v) = %v (%#x), formula %v (%#x)", v, dy[i], dx[i], math.Float32bits(dx[i]), want, math.Float32bits(want))
		}
	}
}
