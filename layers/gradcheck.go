package layers

import (
	"fmt"
	"math"
	"math/rand"
)

// GradCheck holds the settings of a numerical gradient check, Caffe's
// GradientChecker: central differences of a scalar objective against the
// analytic gradients of Backward.
type GradCheck struct {
	Step      float64 // finite-difference step (default 1e-2)
	Threshold float64 // allowed error, scaled by max(|analytic|,|numeric|,1) (default 1e-2)
	// Kink and KinkRange skip points where the layer is not differentiable
	// (ReLU at 0, max pooling ties): |x-Kink| < KinkRange.
	Kink, KinkRange float64
	// Seed makes the objective's random weights reproducible.
	Seed int64
	// Bottoms lists which bottoms to check (nil means all). Params are
	// always checked unless SkipParams.
	Bottoms    []int
	SkipParams bool
	// Setup is called after Setup and before each Forward; layers that draw
	// random numbers (Dropout) use it to reset their generator so every
	// evaluation sees the same mask.
	BeforeForward func()
}

// Check runs Setup, then compares analytic and numerical gradients of the
// objective sum_i w_i * top_i (w fixed random) with respect to every checked
// bottom element and parameter element. It returns the first mismatch.
func (g GradCheck) Check(l Layer, bottom, top []*Blob) error {
	if g.Step == 0 {
		g.Step = 1e-2
	}
	if g.Threshold == 0 {
		g.Threshold = 1e-2
	}
	if err := l.Setup(bottom, top); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rng := rand.New(rand.NewSource(g.Seed + 1))
	weights := make([][]float32, len(top))
	for i, t := range top {
		weights[i] = make([]float32, t.Count())
		for j := range weights[i] {
			weights[i][j] = float32(rng.NormFloat64())
		}
	}
	objective := func() (float64, error) {
		if g.BeforeForward != nil {
			g.BeforeForward()
		}
		if err := l.Forward(bottom, top); err != nil {
			return 0, err
		}
		var s float64
		for i, t := range top {
			for j, v := range t.Data {
				s += float64(v) * float64(weights[i][j])
			}
		}
		return s, nil
	}
	checkBottom := make([]bool, len(bottom))
	if g.Bottoms == nil {
		for i := range checkBottom {
			checkBottom[i] = true
		}
	} else {
		for _, i := range g.Bottoms {
			checkBottom[i] = true
		}
	}
	// Analytic gradients.
	if _, err := objective(); err != nil {
		return err
	}
	for i, t := range top {
		copy(t.Diff, weights[i])
	}
	for _, p := range l.Params() {
		p.ZeroDiff()
	}
	for _, b := range bottom {
		b.ZeroDiff()
	}
	l.Backward(top, checkBottom, bottom)
	type target struct {
		name string
		blob *Blob
		grad []float32
	}
	var targets []target
	for i, b := range bottom {
		if checkBottom[i] {
			targets = append(targets, target{fmt.Sprintf("bottom[%d]", i), b, append([]float32(nil), b.Diff...)})
		}
	}
	if !g.SkipParams {
		for i, p := range l.Params() {
			targets = append(targets, target{fmt.Sprintf("param[%d]", i), p, append([]float32(nil), p.Diff...)})
		}
	}
	for _, tg := range targets {
		for j := range tg.blob.Data {
			orig := tg.blob.Data[j]
			if g.KinkRange > 0 && math.Abs(float64(orig)-g.Kink) < g.KinkRange {
				continue
			}
			tg.blob.Data[j] = orig + float32(g.Step)
			plus, err := objective()
			if err != nil {
				return err
			}
			tg.blob.Data[j] = orig - float32(g.Step)
			minus, err := objective()
			if err != nil {
				return err
			}
			tg.blob.Data[j] = orig
			numeric := (plus - minus) / (2 * g.Step)
			analytic := float64(tg.grad[j])
			scale := math.Max(math.Max(math.Abs(numeric), math.Abs(analytic)), 1)
			if math.Abs(numeric-analytic) > g.Threshold*scale {
				return fmt.Errorf("%s %s element %d: analytic gradient %g, numerical %g", l.Type(), tg.name, j, analytic, numeric)
			}
		}
	}
	return nil
}

// FillGaussian fills x with N(0, std²) values from rng (test helper).
func FillGaussian(rng *rand.Rand, std float32, x []float32) {
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * std
	}
}
