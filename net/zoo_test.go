package net

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// The project's Caffe-style nets in testdata: each must load, build for
// TRAIN and TEST, produce Caffe's blob shapes, and learn a generated
// 10-class problem with a few steps of SGD.
func TestZooNets(t *testing.T) {
	for _, tc := range []struct {
		file   string
		shapes map[string]string // TRAIN blob shapes
		splits []string          // Split layers the net must insert
		lr     float32
		amp    float32 // scale of the generated images
		iters  int
	}{
		{"cifar10_quick_train_test.prototxt", map[string]string{
			"conv1": "16 32 32 32 (524288)", "pool1": "16 32 16 16 (131072)", "conv2": "16 32 16 16 (131072)",
			"pool2": "16 32 8 8 (32768)", "conv3": "16 64 8 8 (65536)", "pool3": "16 64 4 4 (16384)",
			"ip1": "16 64 (1024)", "ip2": "16 10 (160)", "loss": "(1)"},
			nil, 0.002, 30, 18},
		{"cifar10_full_train_test.prototxt", map[string]string{
			"pool1": "16 32 16 16 (131072)", "norm1": "16 32 16 16 (131072)", "norm2": "16 32 8 8 (32768)",
			"pool3": "16 64 4 4 (16384)", "ip1": "16 10 (160)"},
			nil, 0.015, 50, 18},
		{"caffenet_small.prototxt", map[string]string{
			"conv1": "8 16 17 17 (36992)", "pool1": "8 16 8 8 (8192)", "norm1": "8 16 8 8 (8192)",
			"conv2": "8 32 8 8 (16384)", "pool2": "8 32 4 4 (4096)", "conv3": "8 48 4 4 (6144)",
			"conv4": "8 48 4 4 (6144)", "conv5": "8 32 4 4 (4096)", "pool5": "8 32 2 2 (1024)",
			"fc6": "8 64 (512)", "fc7": "8 64 (512)", "fc8": "8 10 (80)"},
			nil, 0.005, 1, 20},
		{"inception_block.prototxt", map[string]string{
			"conv1": "8 16 16 16 (32768)", "inception_3a/3x3": "8 12 16 16 (24576)", "inception_3a/pool": "8 16 16 16 (32768)",
			"inception_3a/output": "8 28 16 16 (57344)", "pool5": "8 28 1 1 (224)", "classifier": "8 10 (80)"},
			[]string{"conv1_conv1_relu_0_split"}, 0.1, 1, 20},
		{"resnet_block.prototxt", map[string]string{
			"conv1": "8 16 16 16 (32768)", "res2a": "8 16 16 16 (32768)", "res3a_branch1": "8 32 8 8 (16384)",
			"res3a_branch2a": "8 32 8 8 (16384)", "res3a": "8 32 8 8 (16384)", "pool5": "8 32 1 1 (256)", "fc10": "8 10 (80)"},
			[]string{"conv1_conv1_relu_0_split", "res2a_res2a_relu_0_split"}, 0.05, 1, 12},
	} {
		t.Run(tc.file, func(t *testing.T) {
			start := time.Now()
			param, err := prototxt.LoadNet(filepath.Join("..", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			train, err := New(param, &layers.Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(1))})
			if err != nil {
				t.Fatal(err)
			}
			test, err := New(param, &layers.Context{Phase: caffepb.Phase_TEST, Rand: rand.New(rand.NewSource(2))})
			if err != nil {
				t.Fatal(err)
			}
			if err := test.ShareWeightsFrom(train); err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.shapes {
				b := train.BlobByName(name)
				if b == nil {
					t.Errorf("no blob %q", name)
				} else if got := b.ShapeString(); got != want {
					t.Errorf("blob %s: shape %s, want %s", name, got, want)
				}
			}
			for _, s := range tc.splits {
				if l := train.LayerByName(s); l == nil || l.Type() != "Split" {
					t.Errorf("no Split layer %s in %v", s, train.LayerNames())
				}
			}
			if got := test.OutputNames(); len(got) != 2 || got[0] != "accuracy" || got[1] != "loss" {
				t.Errorf("TEST outputs %v", got)
			}

			// A learnable problem: class c is a fixed random pattern plus
			// noise; the same batch every step, so the loss must fall.
			rng := rand.New(rand.NewSource(3))
			data, label := train.BlobByName("data"), train.BlobByName("label")
			per := data.CountFrom(1)
			patterns := make([][]float32, 10)
			for c := range patterns {
				patterns[c] = make([]float32, per)
				layers.FillGaussian(rng, 1, patterns[c])
			}
			for i := 0; i < data.Num(); i++ {
				c := i % 10
				label.Data[i] = float32(c)
				for j := 0; j < per; j++ {
					data.Data[i*per+j] = tc.amp * (patterns[c][j] + 0.5*float32(rng.NormFloat64()))
				}
			}
			params := train.LearnableParams()
			history := make([][]float32, len(params))
			for i, p := range params {
				history[i] = make([]float32, p.Blob.Count())
			}
			var losses []float64
			for it := 0; it < tc.iters; it++ {
				train.ClearParamDiffs()
				loss, err := train.ForwardBackward()
				if err != nil {
					t.Fatal(err)
				}
				if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
					t.Fatalf("iteration %d: loss %g", it, loss)
				}
				losses = append(losses, float64(loss))
				// SGD with momentum 0.9: v = 0.9 v + lr*lr_mult*dw; w -= v.
				for i, p := range params {
					rate := tc.lr * p.LrMult
					for j, d := range p.Blob.Diff {
						history[i][j] = 0.9*history[i][j] + rate*d
						p.Blob.Data[j] -= history[i][j]
					}
				}
			}
			first := (losses[0] + losses[1] + losses[2]) / 3
			n := len(losses)
			last := (losses[n-1] + losses[n-2] + losses[n-3]) / 3
			t.Logf("%d iterations in %v, loss %.4f -> %.4f (%v)", tc.iters, time.Since(start).Round(time.Millisecond), first, last, losses)
			if !(last < 0.9*first) {
				t.Errorf("loss did not fall: first three %.4f, last three %.4f: %v", first, last, losses)
			}

			// The TEST net sees the trained weights.
			copy(test.BlobByName("data").Data, data.Data[:test.BlobByName("data").Count()])
			copy(test.BlobByName("label").Data, label.Data[:test.BlobByName("label").Count()])
			if _, err := test.Forward(); err != nil {
				t.Fatal(err)
			}
			acc := test.BlobByName("accuracy").Data[0]
			if acc < 0 || acc > 1 {
				t.Errorf("TEST accuracy %g", acc)
			}
			t.Logf("TEST accuracy %.2f, loss %.4f", acc, test.BlobByName("loss").Data[0])
		})
	}
}
