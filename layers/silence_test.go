package layers

import (
	"math/rand"
	"testing"
)

// TestBreadthLayersAllocateNothing checks the "a warmed-up training step
// allocates nothing" rule for this family of layers (Caffe's less central
// layers), in place where they are usually used in place.
func TestBreadthLayersAllocateNothing(t *testing.T) {
	rng := rand.New(rand.NewSource(72))
	for _, c := range breadthCases(rng) {
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "l" `+c.text)
			top := make([]*Blob, c.tops)
			for i := range top {
				top[i] = &Blob{}
			}
			if c.inPlace {
				top[0] = c.bottom[0]
			}
			if err := l.Setup(c.bottom, top); err != nil {
				t.Fatal(err)
			}
			pd := make([]bool, len(c.bottom))
			for i := range pd {
				pd[i] = true
			}
			step := func() {
				if err := l.Reshape(c.bottom, top); err != nil {
					t.Fatal(err)
				}
				if err := l.Forward(c.bottom, top); err != nil {
					t.Fatal(err)
				}
				for _, tp := range top {
					FillGaussian(rng, 1, tp.Diff)
				}
				l.Backward(top, pd, c.bottom)
			}
			step()
			if n := testing.AllocsPerRun(5, step); n != 0 {
				t.Errorf("%g allocations per Reshape+Forward+Backward", n)
			}
		})
	}
}

// TestBreadthLayersBackwardWritesBottomsAccumulatesParams checks the Layer
// contract: running Backward twice on the same top diffs leaves the same
// bottom diffs (written, not added) and doubles the param diffs (added,
// for iter_size).
func TestBreadthLayersBackwardWritesBottomsAccumulatesParams(t *testing.T) {
	rng := rand.New(rand.NewSource(73))
	for _, c := range breadthCases(rng) {
		if c.inPlace {
			continue // the first Backward overwrites the top diff
		}
		t.Run(c.text, func(t *testing.T) {
			l := buildLayer(t, `name: "l" `+c.text)
			top := make([]*Blob, c.tops)
			for i := range top {
				top[i] = &Blob{}
			}
			if err := l.Setup(c.bottom, top); err != nil {
				t.Fatal(err)
			}
			if err := l.Forward(c.bottom, top); err != nil {
				t.Fatal(err)
			}
			pd := make([]bool, len(c.bottom))
			for i := range pd {
				pd[i] = true
			}
			if c.text == `type: "SigmoidCrossEntropyLoss"` {
				pd[1] = false
			}
			for _, tp := range top {
				FillGaussian(rng, 1, tp.Diff)
			}
			for _, p := range l.Params() {
				p.ZeroDiff()
			}
			l.Backward(top, pd, c.bottom)
			var first, firstP [][]float32
			for _, b := range c.bottom {
				first = append(first, append([]float32(nil), b.Diff...))
			}
			for _, p := range l.Params() {
				firstP = append(firstP, append([]float32(nil), p.Diff...))
			}
			l.Backward(top, pd, c.bottom)
			for i, b := range c.bottom {
				if pd[i] {
					near(t, "bottom diff after a second Backward", b.Diff, first[i], 1e-6)
				}
			}
			for i, p := range l.Params() {
				if nd, ok := l.(NoGradientParams); ok && nd.NoGradientParam(i) {
					continue
				}
				twice := make([]float32, len(firstP[i]))
				for j, v := range firstP[i] {
					twice[j] = 2 * v
				}
				near(t, "param diff after a second Backward", p.Diff, twice, 1e-5)
			}
		})
	}
}

type breadthCase struct {
	text    string
	bottom  []*Blob
	tops    int
	inPlace bool
}

func breadthCases(rng *rand.Rand) []breadthCase {
	x := func(shape ...int) *Blob { return randBlob(rng, "x", shape...) }
	return []breadthCase{
		{`type: "LRN" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }`, []*Blob{x(4, 8, 6, 6)}, 1, false},
		{`type: "LRN" lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL }`, []*Blob{x(4, 8, 6, 6)}, 1, false},
		{`type: "Dropout"`, []*Blob{x(4, 50)}, 1, true},
		{`type: "Dropout"`, []*Blob{x(4, 50)}, 1, false},
		{`type: "Sigmoid"`, []*Blob{x(4, 50)}, 1, false},
		{`type: "TanH"`, []*Blob{x(4, 50)}, 1, true},
		{`type: "AbsVal"`, []*Blob{x(4, 50)}, 1, true},
		{`type: "Power" power_param { power: 2.5 shift: 4 }`, []*Blob{x(4, 50)}, 1, true},
		{`type: "ELU"`, []*Blob{x(4, 50)}, 1, true},
		{`type: "PReLU"`, []*Blob{x(4, 8, 3, 3)}, 1, true},
		{`type: "BatchNorm"`, []*Blob{x(4, 8, 3, 3)}, 1, true},
		{`type: "Scale" scale_param { bias_term: true }`, []*Blob{x(4, 8, 3, 3)}, 1, true},
		{`type: "Scale" scale_param { bias_term: true filler { type: "gaussian" } }`, []*Blob{x(4, 8, 3, 3)}, 1, false},
		{`type: "Scale" scale_param { bias_term: true }`, []*Blob{x(4, 8, 3, 3), x(8, 3)}, 1, false},
		{`type: "Bias"`, []*Blob{x(4, 8, 3, 3), x(8)}, 1, false},
		{`type: "PReLU"`, []*Blob{x(4, 8, 3, 3)}, 1, false},
		{`type: "BatchNorm"`, []*Blob{x(4, 8, 3, 3)}, 1, false},
		{`type: "Bias"`, []*Blob{x(4, 8, 3, 3)}, 1, true},
		{`type: "Eltwise" eltwise_param { operation: MAX }`, []*Blob{x(4, 20), x(4, 20), x(4, 20)}, 1, false},
		{`type: "Eltwise" eltwise_param { operation: PROD }`, []*Blob{x(4, 20), x(4, 20)}, 1, false},
		{`type: "Eltwise" eltwise_param { coeff: 1 coeff: -1 }`, []*Blob{x(4, 20), x(4, 20)}, 1, false},
		{`type: "Concat"`, []*Blob{x(4, 2, 3), x(4, 5, 3)}, 1, false},
		{`type: "Slice" slice_param { slice_point: 1 slice_point: 3 }`, []*Blob{x(4, 6, 2)}, 3, false},
		{`type: "Flatten"`, []*Blob{x(4, 8, 3, 3)}, 1, false},
		{`type: "Reshape" reshape_param { shape { dim: 0 dim: -1 dim: 3 } }`, []*Blob{x(4, 8, 3, 3)}, 1, false},
		{`type: "Split"`, []*Blob{x(4, 8, 6, 6)}, 3, false},
		{`type: "Silence"`, []*Blob{x(4, 3)}, 0, false},
		{`type: "Deconvolution" convolution_param { num_output: 4 kernel_size: 4 stride: 2 pad: 1 group: 2 weight_filler { type: "xavier" } }`, []*Blob{x(4, 8, 6, 6)}, 1, false},
		{`type: "EuclideanLoss"`, []*Blob{x(4, 10), x(4, 10)}, 1, false},
		{`type: "SigmoidCrossEntropyLoss"`, []*Blob{x(4, 10), x(4, 10)}, 1, false},
		{`type: "DummyData" dummy_data_param { shape { dim: 4 dim: 10 } data_filler { type: "gaussian" } }`, nil, 1, false},
	}
}
