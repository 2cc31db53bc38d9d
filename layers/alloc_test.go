package layers

import (
	"math/rand"
	"testing"
)

// TestForwardBackwardAllocs checks the "a warmed-up training step allocates
// nothing" rule for the core layers, on LeNet's shapes.
func TestForwardBackwardAllocs(t *testing.T) {
	rng := rand.New(rand.NewSource(71))
	labels := labelBlob(rng, 10, -1, 8)
	cases := []struct {
		name   string
		text   string
		bottom []*Blob
		tops   int
	}{
		{"conv", `name: "conv1" type: "Convolution" convolution_param { num_output: 20 kernel_size: 5 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 8, 1, 28, 28)}, 1},
		{"conv pad group", `name: "conv2" type: "Convolution" convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2 group: 2 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 8, 4, 12, 12)}, 1},
		{"conv 1x1", `name: "conv3" type: "Convolution" convolution_param { num_output: 8 kernel_size: 1 }`,
			[]*Blob{randBlob(rng, "x", 8, 4, 6, 6)}, 1},
		{"max pool", `name: "pool1" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }`,
			[]*Blob{randBlob(rng, "x", 8, 20, 24, 24)}, 2},
		{"ave pool", `name: "pool2" type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }`,
			[]*Blob{randBlob(rng, "x", 8, 20, 24, 24)}, 1},
		{"ip", `name: "ip1" type: "InnerProduct" inner_product_param { num_output: 500 weight_filler { type: "xavier" } }`,
			[]*Blob{randBlob(rng, "x", 8, 50, 4, 4)}, 1},
		{"relu", `name: "relu1" type: "ReLU"`, []*Blob{randBlob(rng, "x", 8, 500)}, 1},
		{"softmax", `name: "sm" type: "Softmax"`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"softmax loss", `name: "loss" type: "SoftmaxWithLoss"`, []*Blob{randBlob(rng, "x", 8, 10), labels}, 1},
		{"accuracy", `name: "acc" type: "Accuracy" accuracy_param { top_k: 3 }`, []*Blob{randBlob(rng, "x", 8, 10), labels}, 2},
		{"contrastive", `name: "cl" type: "ContrastiveLoss"`, []*Blob{randBlob(rng, "a", 8, 2), randBlob(rng, "b", 8, 2), labels}, 1},
		{"exp", `name: "e" type: "Exp"`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"log", `name: "l" type: "Log" log_param { shift: 10 }`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"bnll", `name: "b" type: "BNLL"`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"threshold", `name: "t" type: "Threshold"`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"argmax", `name: "am" type: "ArgMax" argmax_param { top_k: 2 out_max_val: true }`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"argmax axis", `name: "am" type: "ArgMax" argmax_param { axis: 1 }`, []*Blob{randBlob(rng, "x", 8, 10, 3)}, 1},
		{"embed", `name: "em" type: "Embed" embed_param { num_output: 4 input_dim: 10 }`, []*Blob{labels}, 1},
		{"tile", `name: "ti" type: "Tile" tile_param { tiles: 3 }`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"reduction", `name: "re" type: "Reduction" reduction_param { operation: SUMSQ axis: 1 }`, []*Blob{randBlob(rng, "x", 8, 10)}, 1},
		{"mvn", `name: "mvn" type: "MVN"`, []*Blob{randBlob(rng, "x", 8, 3, 5, 5)}, 1},
		{"crop", `name: "cr" type: "Crop" crop_param { offset: 1 }`, []*Blob{randBlob(rng, "x", 8, 2, 6, 6), NewBlob(8, 2, 4, 3)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := buildLayer(t, c.text)
			top := make([]*Blob, c.tops)
			for i := range top {
				top[i] = &Blob{}
			}
			if err := l.Setup(c.bottom, top); err != nil {
				t.Fatal(err)
			}
			pd := make([]bool, len(c.bottom))
			pd[0] = true
			step := func() {
				if err := l.Reshape(c.bottom, top); err != nil {
					t.Fatal(err)
				}
				if err := l.Forward(c.bottom, top); err != nil {
					t.Fatal(err)
				}
				top[0].Diff[0] = 1
				l.Backward(top, pd, c.bottom)
			}
			step() // warm-up
			if n := testing.AllocsPerRun(5, step); n != 0 {
				t.Errorf("%g allocations per Reshape+Forward+Backward", n)
			}
		})
	}
}
