package net

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// checkNetGradient compares every learnable param's analytic gradient
// (ForwardBackward) with central differences of the net's loss.
func checkNetGradient(t *testing.T, n *Net) {
	t.Helper()
	const eps, tol = 1e-2, 2e-2
	n.ClearParamDiffs()
	if _, err := n.ForwardBackward(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range n.LearnableParams() {
		grad := append([]float32(nil), p.Blob.Diff...)
		stride := max(1, p.Blob.Count()/25)
		for j := 0; j < p.Blob.Count(); j += stride {
			orig := p.Blob.Data[j]
			p.Blob.Data[j] = orig + eps
			lp, err := n.Forward()
			if err != nil {
				t.Fatal(err)
			}
			p.Blob.Data[j] = orig - eps
			lm, _ := n.Forward()
			p.Blob.Data[j] = orig
			num := (float64(lp) - float64(lm)) / (2 * eps)
			a := float64(grad[j])
			if math.Abs(num-a) > tol*math.Max(1, math.Max(math.Abs(num), math.Abs(a))) {
				t.Errorf("%s param %d (%s) element %d: analytic %g, numerical %g", p.Owner, p.Index, p.Name, j, a, num)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no param element checked")
	}
}

const lenetLike = `
name: "LeNetLike"
layer { name: "data" type: "Input" top: "data" top: "label"
  include { phase: TRAIN }
  input_param { shape { dim: 8 dim: 1 dim: 8 dim: 8 } shape { dim: 8 } } }
layer { name: "data" type: "Input" top: "data" top: "label"
  include { phase: TEST }
  input_param { shape { dim: 4 dim: 1 dim: 8 dim: 8 } shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 4 kernel_size: 3 stride: 1
    weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy"
  include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`

func TestPhaseFiltering(t *testing.T) {
	for _, tc := range []struct {
		phase   caffepb.Phase
		layers  []string
		outputs []string
		weights []float32
		batch   int
	}{
		{caffepb.Phase_TRAIN,
			[]string{"data", "conv1", "pool1", "ip1", "relu1", "ip2", "loss"},
			[]string{"loss"}, []float32{1}, 8},
		{caffepb.Phase_TEST,
			[]string{"data", "label_data_1_split", "conv1", "pool1", "ip1", "relu1", "ip2", "ip2_ip2_0_split", "accuracy", "loss"},
			[]string{"accuracy", "loss"}, []float32{0, 1}, 4},
	} {
		t.Run(tc.phase.String(), func(t *testing.T) {
			n := build(t, lenetLike, tc.phase, 1)
			if got := n.LayerNames(); !slices.Equal(got, tc.layers) {
				t.Errorf("layers %v, want %v", got, tc.layers)
			}
			if got := n.OutputNames(); !slices.Equal(got, tc.outputs) {
				t.Errorf("outputs %v, want %v", got, tc.outputs)
			}
			if got := n.OutputLossWeights(); !slices.Equal(got, tc.weights) {
				t.Errorf("output loss weights %v, want %v", got, tc.weights)
			}
			if n.BatchSize() != tc.batch {
				t.Errorf("batch size %d, want %d", n.BatchSize(), tc.batch)
			}
			if n.Phase() != tc.phase {
				t.Errorf("phase %v", n.Phase())
			}
			fillInputs(n, 2, 3)
			loss, err := n.ForwardBackward()
			if err != nil {
				t.Fatal(err)
			}
			// The returned loss is the loss output times its weight.
			if got := n.BlobByName("loss").Data[0]; math.Abs(float64(got-loss)) > 1e-6 || loss <= 0 {
				t.Errorf("Forward returned %g, loss blob holds %g", loss, got)
			}
			if s := n.BlobByName("pool1").ShapeString(); s != fmt.Sprintf("%d 4 3 3 (%d)", tc.batch, tc.batch*36) {
				t.Errorf("pool1 shape %s", s)
			}
			if len(n.LearnableParams()) != 6 {
				t.Errorf("%d learnable params, want 6", len(n.LearnableParams()))
			}
			if p := n.LearnableParams()[1]; p.Owner != "conv1" || p.Index != 1 || p.LrMult != 2 || p.DecayMult != 1 {
				t.Errorf("conv1 bias param %+v", *p)
			}
		})
	}
}

func TestStateRules(t *testing.T) {
	const text = `
state { level: 1 stage: "deploy" }
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "l_train" type: "TestScale" bottom: "data" top: "a" include { phase: TRAIN } }
layer { name: "l_nottrain" type: "TestScale" bottom: "data" top: "b" exclude { phase: TRAIN } }
layer { name: "l_level2" type: "TestScale" bottom: "data" top: "c" include { min_level: 2 } }
layer { name: "l_maxlevel1" type: "TestScale" bottom: "data" top: "d" include { max_level: 1 } }
layer { name: "l_deploy" type: "TestScale" bottom: "data" top: "e" include { stage: "deploy" } }
layer { name: "l_notdeploy" type: "TestScale" bottom: "data" top: "f" include { not_stage: "deploy" } }
layer { name: "l_either" type: "TestScale" bottom: "data" top: "g" include { stage: "x" } include { phase: TEST } }
`
	for _, tc := range []struct {
		phase caffepb.Phase
		want  []string
	}{
		{caffepb.Phase_TRAIN, []string{"data", "l_train", "l_maxlevel1", "l_deploy"}},
		{caffepb.Phase_TEST, []string{"data", "l_nottrain", "l_maxlevel1", "l_deploy", "l_either"}},
	} {
		n := build(t, text, tc.phase, 1)
		var got []string
		for _, name := range n.LayerNames() {
			if !strings.Contains(name, "split") {
				got = append(got, name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: layers %v, want %v", tc.phase, got, tc.want)
		}
	}
}

// splitNet reads ip1 from two branches, and the label from the loss only.
const splitNet = `
name: "split"
force_backward: true
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 6 } shape { dim: 4 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } } }
layer { name: "sa" type: "TestScale" bottom: "ip1" top: "sa" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "l1" type: "TestSquareLoss" bottom: "sa" top: "l1" loss_weight: 0.5 }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`

func TestSplitGradient(t *testing.T) {
	n := build(t, splitNet, caffepb.Phase_TRAIN, 3)
	want := []string{"data", "ip1", "ip1_ip1_0_split", "sa", "ip2", "l1", "loss"}
	if got := n.LayerNames(); !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	sp := n.LayerByName("ip1_ip1_0_split")
	if sp.Type() != "Split" {
		t.Errorf("split type %q", sp.Type())
	}
	if n.BottomBlobs(3)[0].Name != "ip1_ip1_0_split_0" || n.BottomBlobs(4)[0].Name != "ip1_ip1_0_split_1" {
		t.Errorf("split tops not handed out in order: %s, %s", n.BottomBlobs(3)[0].Name, n.BottomBlobs(4)[0].Name)
	}
	fillInputs(n, 4, 3)
	checkNetGradient(t, n)

	// force_backward computes the data gradient too (but never the label's).
	data := n.BlobByName("data")
	if bn := n.BottomNeedsBackward(1); !bn[0] {
		t.Error("force_backward: ip1 does not propagate to data")
	}
	if bn := n.BottomNeedsBackward(len(want) - 1); !bn[0] || bn[1] {
		t.Errorf("loss bottom needs %v, want [true false]", bn)
	}
	n.ClearParamDiffs()
	n.ForwardBackward()
	grad := append([]float32(nil), data.Diff...)
	for _, j := range []int{0, 7, 23} {
		orig := data.Data[j]
		data.Data[j] = orig + 1e-2
		lp, _ := n.Forward()
		data.Data[j] = orig - 1e-2
		lm, _ := n.Forward()
		data.Data[j] = orig
		num := float64(lp-lm) / 2e-2
		if math.Abs(num-float64(grad[j])) > 2e-2*math.Max(1, math.Abs(num)) {
			t.Errorf("data element %d: analytic %g, numerical %g", j, grad[j], num)
		}
	}
}

func TestLossAlsoRead(t *testing.T) {
	// A weighted top that another layer also reads gets a split whose top 0
	// carries the loss (Caffe's InsertSplits).
	const text = `
force_backward: true
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "s" type: "TestScale" bottom: "data" top: "s" loss_weight: 1 }
layer { name: "t" type: "TestScale" bottom: "s" top: "t" }
layer { name: "l" type: "TestSquareLoss" bottom: "t" top: "l" }
`
	n := build(t, text, caffepb.Phase_TRAIN, 1)
	want := []string{"data", "s", "s_s_0_split", "t", "l"}
	if got := n.LayerNames(); !slices.Equal(got, want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	if w := n.LayerParam(2).GetLossWeight(); !slices.Equal(w, []float32{1, 0}) {
		t.Errorf("split loss weights %v", w)
	}
	if w := n.LayerParam(1).GetLossWeight(); !slices.Equal(w, []float32{0}) {
		t.Errorf("s keeps loss weights %v", w)
	}
	fillInputs(n, 1, 1)
	loss, _ := n.Forward()
	var want2 float32
	for _, v := range n.BlobByName("s").Data {
		want2 += v
	}
	want2 += n.BlobByName("l").Data[0]
	if math.Abs(float64(loss-want2)) > 1e-5 {
		t.Errorf("loss %g, want sum(s)+l = %g", loss, want2)
	}
	checkNetGradient(t, n)
}

func TestInPlace(t *testing.T) {
	const text = `
layer { name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 6 dim: 5 } shape { dim: 6 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param { num_output: 7 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "scale1" type: "TestScale" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`
	n := build(t, text, caffepb.Phase_TRAIN, 5)
	ip1 := n.BlobByName("ip1")
	if n.TopBlobs(2)[0] != ip1 || n.BottomBlobs(2)[0] != ip1 || n.TopBlobs(3)[0] != ip1 || n.BottomBlobs(4)[0] != ip1 {
		t.Fatal("in-place layers do not share the ip1 blob")
	}
	if len(n.Blobs()) != 5 {
		t.Errorf("%d blobs, want 5 (data, label, ip1, ip2, loss)", len(n.Blobs()))
	}
	fillInputs(n, 6, 3)
	if _, err := n.Forward(); err != nil {
		t.Fatal(err)
	}
	// After relu and a positive scale every ip1 value is >= 0, and some
	// pre-activations were negative (so relu did something).
	for _, v := range ip1.Data {
		if v < 0 {
			t.Fatalf("ip1 holds %g after in-place ReLU", v)
		}
	}
	checkNetGradient(t, n)
}

func TestLossWeightDoublesGradients(t *testing.T) {
	run := func(lw string) (float32, [][]float32) {
		text := strings.Replace(splitNet, `top: "loss" }`, `top: "loss" `+lw+` }`, 1)
		text = strings.Replace(text, `loss_weight: 0.5`, lw, 1)
		if strings.Count(text, lw) != 2 {
			t.Fatalf("test net not rewritten: %s", text)
		}
		n := build(t, text, caffepb.Phase_TRAIN, 7)
		fillInputs(n, 8, 3)
		n.ClearParamDiffs()
		loss, err := n.ForwardBackward()
		if err != nil {
			t.Fatal(err)
		}
		var diffs [][]float32
		for _, p := range n.LearnableParams() {
			diffs = append(diffs, append([]float32(nil), p.Blob.Diff...))
		}
		return loss, diffs
	}
	l1, d1 := run("loss_weight: 1")
	l2, d2 := run("loss_weight: 2")
	if math.Abs(float64(l2-2*l1)) > 1e-5*math.Abs(float64(l1)) {
		t.Errorf("loss %g with weight 2, %g with weight 1", l2, l1)
	}
	nonzero := 0
	for i := range d1 {
		for j := range d1[i] {
			if math.Abs(float64(d2[i][j]-2*d1[i][j])) > 1e-5*math.Max(1, math.Abs(float64(d1[i][j]))) {
				t.Fatalf("param %d element %d: diff %g with weight 2, %g with weight 1", i, j, d2[i][j], d1[i][j])
			}
			if d1[i][j] != 0 {
				nonzero++
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("all gradients are zero")
	}
}

const sharedNet = `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 6 } } }
layer { name: "ipA" type: "InnerProduct" bottom: "data" top: "a"
  param { name: "w" } param { name: "b" lr_mult: 2 }
  inner_product_param { num_output: 6 weight_filler { type: "gaussian" std: 0.4 } bias_filler { type: "gaussian" std: 0.4 } } }
layer { name: "mid" type: "TestScale" bottom: "a" top: "m" }
layer { name: "ipB" type: "InnerProduct" bottom: "m" top: "bo"
  param { name: "w" } param { name: "b" }
  inner_product_param { num_output: 6 weight_filler { type: "gaussian" std: 0.4 } bias_filler { type: "gaussian" std: 0.4 } } }
layer { name: "loss" type: "TestSquareLoss" bottom: "bo" top: "loss" }
`

func TestSharedParams(t *testing.T) {
	n := build(t, sharedNet, caffepb.Phase_TRAIN, 9)
	ps := n.LearnableParams()
	if len(ps) != 3 {
		t.Fatalf("%d learnable params, want 3 (w, b, mid)", len(ps))
	}
	if ps[0].Name != "w" || ps[0].Owner != "ipA" || ps[1].Name != "b" || ps[1].LrMult != 2 || ps[2].Owner != "mid" {
		t.Errorf("params %+v %+v %+v", *ps[0], *ps[1], *ps[2])
	}
	a, b := n.LayerByName("ipA").Params(), n.LayerByName("ipB").Params()
	for k := range a {
		if &a[k].Data[0] != &b[k].Data[0] || &a[k].Diff[0] != &b[k].Diff[0] {
			t.Errorf("param %d: ipB does not use ipA's storage", k)
		}
	}
	fillInputs(n, 10, 1)
	// The shared gradient is the sum of both users' contributions: check it
	// numerically (a gradient from only one user would fail).
	checkNetGradient(t, n)
}

func TestShareModes(t *testing.T) {
	const text = `
layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 2 dim: 3 } shape { dim: 2 dim: 6 } } }
layer { name: "s1" type: "TestScale" bottom: "x" top: "sx" param { name: "w" } }
layer { name: "s2" type: "TestScale" bottom: "y" top: "sy" param { name: "w" %s } }
`
	_, err := New(parse(t, fmt.Sprintf(text, "")), &layers.Context{Rand: rand.New(rand.NewSource(1))})
	if err == nil || !strings.Contains(err.Error(), "layer s2: cannot share param 'w' owned by layer s1: shape mismatch") {
		t.Errorf("STRICT: got %v", err)
	}
	n, err := New(parse(t, fmt.Sprintf(text, "share_mode: PERMISSIVE")), &layers.Context{Rand: rand.New(rand.NewSource(1))})
	if err != nil {
		t.Fatalf("PERMISSIVE: %v", err)
	}
	if len(n.LearnableParams()) != 1 {
		t.Errorf("%d learnable params, want 1", len(n.LearnableParams()))
	}
	_, err = New(parse(t, strings.Replace(fmt.Sprintf(text, "share_mode: PERMISSIVE lr_mult: 3"), `name: "w" }`, `name: "w" lr_mult: 2 }`, 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "lr_mult") {
		t.Errorf("mismatched lr_mult: got %v", err)
	}
}

func TestLrMultZeroSkipsBackward(t *testing.T) {
	const text = `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 3 dim: 4 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1" param { lr_mult: 0 } param { lr_mult: 0 }
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "ip3" type: "InnerProduct" bottom: "ip2" top: "ip3" param { lr_mult: 0 } param { lr_mult: 0 }
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "ip4" type: "InnerProduct" bottom: "ip3" top: "ip4" propagate_down: false
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "TestSquareLoss" bottom: "ip4" top: "loss" }
`
	n := build(t, text, caffepb.Phase_TRAIN, 1)
	// ip1: frozen, its bottom is data. ip2: learns. ip3: frozen, but its
	// gradient would reach ip2 — except that ip4 does not propagate down, so
	// ip3 and ip2 (whose output gradient nobody computes) are skipped too.
	wantNeed := map[string]bool{"data": false, "ip1": false, "ip2": false, "ip3": false, "ip4": true, "loss": true}
	for i, name := range n.LayerNames() {
		if n.LayerNeedsBackward(i) != wantNeed[name] {
			t.Errorf("%s needs backward: %v, want %v", name, n.LayerNeedsBackward(i), wantNeed[name])
		}
	}
	fillInputs(n, 1, 1)
	for _, p := range n.LearnableParams() {
		for j := range p.Blob.Diff {
			p.Blob.Diff[j] = 7
		}
	}
	n.ForwardBackward()
	for _, p := range n.LearnableParams() {
		untouched := p.Blob.Diff[0] == 7
		if untouched != (p.Owner != "ip4") {
			t.Errorf("%s param %d diff %g after Backward", p.Owner, p.Index, p.Blob.Diff[0])
		}
	}

	// Without propagate_down: false, ip3 (frozen) must run to reach ip2.
	n = build(t, strings.Replace(text, "propagate_down: false", "", 1), caffepb.Phase_TRAIN, 1)
	wantNeed = map[string]bool{"ip1": false, "ip2": true, "ip3": true, "ip4": true, "loss": true}
	for i, name := range n.LayerNames() {
		if n.LayerNeedsBackward(i) != wantNeed[name] {
			t.Errorf("without propagate_down: %s needs backward: %v", name, n.LayerNeedsBackward(i))
		}
	}
	if n.LearnableParams()[4].LrMult != 0 || n.LearnableParams()[2].LrMult != 1 {
		t.Error("lr_mult not recorded")
	}
}

func TestNotUnderLossSkipped(t *testing.T) {
	// A branch whose output no loss uses needs no backward (Caffe's
	// blobs_under_loss), though it has learnable params.
	const text = `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "s" type: "TestScale" bottom: "data" top: "s" }
layer { name: "side" type: "TestScale" bottom: "s" top: "side" }
layer { name: "loss" type: "TestSquareLoss" bottom: "s" top: "loss" }
`
	n := build(t, text, caffepb.Phase_TRAIN, 1)
	need := map[string]bool{}
	for i, name := range n.LayerNames() {
		need[name] = n.LayerNeedsBackward(i)
	}
	if need["side"] || !need["s"] || !need["loss"] || !need["s_s_0_split"] {
		t.Errorf("needs backward: %v", need)
	}
	if got := n.OutputNames(); !slices.Equal(got, []string{"loss", "side"}) {
		t.Errorf("outputs %v", got)
	}
}

func TestParamsReadyHook(t *testing.T) {
	n := build(t, sharedNet, caffepb.Phase_TRAIN, 9)
	fillInputs(n, 1, 1)
	layerIdx := map[string]int{}
	for i, name := range n.LayerNames() {
		layerIdx[name] = i
	}
	type report struct {
		p    *Param
		diff []float32
	}
	var reports []report
	n.SetParamsReadyHook(func(ps []*Param) {
		for _, p := range ps {
			reports = append(reports, report{p, append([]float32(nil), p.Blob.Diff...)})
		}
	})
	for iter := 0; iter < 2; iter++ {
		reports = reports[:0]
		n.ClearParamDiffs()
		if _, err := n.ForwardBackward(); err != nil {
			t.Fatal(err)
		}
		seen := map[*Param]int{}
		last := len(n.LayerNames())
		for _, r := range reports {
			seen[r.p]++
			if li := layerIdx[r.p.Owner]; li > last {
				t.Errorf("param %s/%d reported after an earlier layer's", r.p.Owner, r.p.Index)
			} else {
				last = li
			}
			// Complete: nothing changed the gradient after the report.
			if !slices.Equal(r.diff, r.p.Blob.Diff) {
				t.Errorf("param %s/%d (%s) reported before its gradient was final", r.p.Owner, r.p.Index, r.p.Name)
			}
		}
		for _, p := range n.LearnableParams() {
			if seen[p] != 1 {
				t.Errorf("param %s/%d reported %d times", p.Owner, p.Index, seen[p])
			}
		}
		if len(reports) != len(n.LearnableParams()) {
			t.Errorf("%d reports for %d params", len(reports), len(n.LearnableParams()))
		}
		// Late layers first: mid's param precedes the shared ones.
		if len(reports) == 3 && reports[0].p.Owner != "mid" {
			t.Errorf("first report %s, want mid", reports[0].p.Owner)
		}
	}
}

func TestModelRoundTrip(t *testing.T) {
	src := build(t, lenetLike, caffepb.Phase_TRAIN, 1)
	model := src.ToProto(false)
	if model.GetName() != "LeNetLike" || len(model.GetLayer()) != len(src.LayerNames()) {
		t.Fatalf("ToProto: name %q, %d layers", model.GetName(), len(model.GetLayer()))
	}
	conv := model.GetLayer()[1]
	if conv.GetType() != "Convolution" || len(conv.GetBlobs()) != 2 || conv.GetBlobs()[0].GetShape().GetDim()[0] != 4 ||
		len(conv.GetParam()) != 2 || conv.GetBottom()[0] != "data" || len(conv.GetBlobs()[0].GetDiff()) != 0 {
		t.Errorf("conv1 in the model: %v", conv)
	}
	if d := src.ToProto(true).GetLayer()[1].GetBlobs()[0].GetDiff(); len(d) != 36 {
		t.Errorf("writeDiff: %d diff values", len(d))
	}
	// Through the wire format, into a net with other weights.
	raw, err := proto.Marshal(model)
	if err != nil {
		t.Fatal(err)
	}
	var back caffepb.NetParameter
	if err := proto.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	dst := build(t, lenetLike, caffepb.Phase_TEST, 2)
	if slices.Equal(dst.LearnableParams()[0].Blob.Data, src.LearnableParams()[0].Blob.Data) {
		t.Fatal("different seeds gave the same weights")
	}
	missing, unused, err := dst.CopyTrainedLayersFrom(&back)
	if err != nil || len(missing) != 0 || len(unused) != 0 {
		t.Fatalf("copy: missing %v unused %v err %v", missing, unused, err)
	}
	for i, p := range src.LearnableParams() {
		if !slices.Equal(p.Blob.Data, dst.LearnableParams()[i].Blob.Data) {
			t.Errorf("param %d differs after the copy", i)
		}
	}
	// A net built from a NetParameter whose layers carry blobs starts from them.
	again, err := New(&back, &layers.Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(5))})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range src.LearnableParams() {
		if !slices.Equal(p.Blob.Data, again.LearnableParams()[i].Blob.Data) {
			t.Errorf("param %d not taken from the layer's blobs", i)
		}
	}
}

func TestCopyTrainedLayersErrors(t *testing.T) {
	const tmpl = `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: %d dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 20 kernel_size: 5 } }
layer { name: "%s" type: "InnerProduct" bottom: "conv1" top: "ip" inner_product_param { num_output: 2 } }
layer { name: "loss" type: "TestSquareLoss" bottom: "ip" top: "loss" }
`
	model := build(t, fmt.Sprintf(tmpl, 1, "ipX"), caffepb.Phase_TRAIN, 1).ToProto(false)

	n := build(t, fmt.Sprintf(tmpl, 3, "ip2"), caffepb.Phase_TRAIN, 2)
	before := append([]float32(nil), n.LearnableParams()[0].Blob.Data...)
	_, _, err := n.CopyTrainedLayersFrom(model)
	want := "layer conv1: blob 0 shape 20 1 5 5 (500) in the model, 20 3 5 5 (1500) in the net"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if !slices.Equal(before, n.LearnableParams()[0].Blob.Data) {
		t.Error("a failed copy changed the net")
	}

	n = build(t, fmt.Sprintf(tmpl, 1, "ip2"), caffepb.Phase_TRAIN, 2)
	missing, unused, err := n.CopyTrainedLayersFrom(model)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"ip2"}) || !slices.Equal(unused, []string{"ipX"}) {
		t.Errorf("missing %v unused %v, want [ip2] [ipX]", missing, unused)
	}
	if !slices.Equal(n.LayerByName("conv1").Params()[0].Data, model.GetLayer()[1].GetBlobs()[0].GetData()) {
		t.Error("conv1 not copied")
	}
}

func TestCopyFromV1Model(t *testing.T) {
	// An old model: V1 `layers`, legacy 4-D blob shapes (1×1×N×K weights,
	// 1×1×1×N bias).
	n := build(t, `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 2 } }
`, caffepb.Phase_TEST, 1)
	i32 := proto.Int32
	model := &caffepb.NetParameter{Layers: []*caffepb.V1LayerParameter{{
		Name: proto.String("fc"), Type: caffepb.V1LayerParameter_INNER_PRODUCT.Enum(),
		Bottom: []string{"data"}, Top: []string{"fc"},
		Blobs: []*caffepb.BlobProto{
			{Num: i32(1), Channels: i32(1), Height: i32(2), Width: i32(3), Data: []float32{1, 2, 3, 4, 5, 6}},
			{Num: i32(1), Channels: i32(1), Height: i32(1), Width: i32(2), Data: []float32{7, 8}},
		},
	}}}
	missing, unused, err := n.CopyTrainedLayersFrom(model)
	if err != nil || missing != nil || unused != nil {
		t.Fatalf("missing %v unused %v err %v", missing, unused, err)
	}
	if p := n.LayerByName("fc").Params(); !slices.Equal(p[0].Data, []float32{1, 2, 3, 4, 5, 6}) || !slices.Equal(p[1].Data, []float32{7, 8}) {
		t.Errorf("copied %v %v", p[0].Data, p[1].Data)
	}
	if len(model.GetLayer()) != 0 {
		t.Error("the caller's model was modified")
	}
}

func TestShareWeightsFrom(t *testing.T) {
	train := build(t, lenetLike, caffepb.Phase_TRAIN, 1)
	test := build(t, lenetLike, caffepb.Phase_TEST, 2)
	if err := test.ShareWeightsFrom(train); err != nil {
		t.Fatal(err)
	}
	tw, sw := train.LayerByName("ip2").Params()[0], test.LayerByName("ip2").Params()[0]
	tw.Data[3] = 42
	if sw.Data[3] != 42 {
		t.Error("TEST net does not see the TRAIN net's weights")
	}
	if &tw.Diff[0] == &sw.Diff[0] {
		t.Error("gradients must stay separate")
	}
	other := build(t, strings.Replace(lenetLike, "num_output: 3", "num_output: 5", 1), caffepb.Phase_TEST, 3)
	err := other.ShareWeightsFrom(train)
	if err == nil || !strings.Contains(err.Error(), "layer ip2: cannot share param 0: shape 3 10 (30) in the source net, 5 10 (50) in this net") {
		t.Errorf("got %v", err)
	}
}

func TestShareWeightsFromKeepsNamedSharing(t *testing.T) {
	// The source net lacks ipB; this net's ipB shares ipA's params by name
	// and must follow ipA to the source's storage.
	src := build(t, strings.Replace(sharedNet, `name: "ipB"`, `name: "other"`, 1), caffepb.Phase_TRAIN, 1)
	dst := build(t, sharedNet, caffepb.Phase_TEST, 2)
	if err := dst.ShareWeightsFrom(src); err != nil {
		t.Fatal(err)
	}
	w := src.LayerByName("ipA").Params()[0]
	if &dst.LayerByName("ipA").Params()[0].Data[0] != &w.Data[0] || &dst.LayerByName("ipB").Params()[0].Data[0] != &w.Data[0] {
		t.Error("ipA/ipB do not use the source's ipA weights")
	}
}

func TestBuildErrors(t *testing.T) {
	const data = `layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 } } }
`
	for _, tc := range []struct{ name, text, want string }{
		{"unknown type", data + `layer { name: "foo" type: "NoSuchLayer" bottom: "data" top: "foo" }`,
			`layer foo: unknown layer type "NoSuchLayer"`},
		{"unknown bottom", data + `layer { name: "s" type: "TestScale" bottom: "dta" top: "s" }`,
			`layer s: unknown bottom blob 'dta' (no earlier layer produces it)`},
		{"bottom produced later", data + `layer { name: "s" type: "TestScale" bottom: "t" top: "s" }
layer { name: "t" type: "TestScale" bottom: "data" top: "t" }`,
			`layer s: unknown bottom blob 't'`},
		{"duplicate top", data + `layer { name: "s" type: "TestScale" bottom: "data" top: "s" }
layer { name: "s2" type: "TestScale" bottom: "data" top: "s" }`,
			`layer s2: top blob 's' is already produced by layer s`},
		{"top is another bottom", data + `layer { name: "in2" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "e" type: "TestScale" bottom: "data" bottom: "x" top: "x" }`,
			`layer e: top 0 'x' is bottom 1`},
		{"loss weights", data + `layer { name: "s" type: "TestScale" bottom: "data" top: "s" loss_weight: 1 loss_weight: 2 }`,
			`layer s: loss_weight must be given 0 times or once per top (1), got 2`},
		{"propagate_down", data + `layer { name: "s" type: "TestScale" bottom: "data" top: "s" propagate_down: true propagate_down: false }`,
			`layer s: propagate_down must be given 0 times or once per bottom (1), got 2`},
		{"too many params", data + `layer { name: "s" type: "TestScale" bottom: "data" top: "s" param {} param {} }`,
			`layer s: 2 param specs given, but the layer has only 1 params`},
		{"include and exclude", data + `layer { name: "s" type: "TestScale" bottom: "data" top: "s" include { phase: TRAIN } exclude { phase: TEST } }`,
			`include rules or exclude rules`},
		{"panicking layer", data + `layer { name: "boom" type: "TestPanic" bottom: "data" top: "boom" }`,
			`layer boom (TestPanic): Setup panicked: kaboom`},
		{"setup error", data + `layer { name: "ipz" type: "InnerProduct" bottom: "data" top: "ipz" }`,
			`ipz`},
		// Every layer cos cannot build is named in the one error, the
		// first with the registry's hint for a known-but-unsupported type.
		{"unsupported types all named", data + `layer { name: "rec1" type: "LSTM" bottom: "data" top: "rec1" }
layer { name: "py" type: "Python" bottom: "rec1" top: "py" }
layer { name: "odd" type: "NoSuchLayer" bottom: "py" top: "odd" }`,
			`layer rec1: layer type "LSTM" is not supported by cos: recurrent layers are not supported; other layers of types cos cannot build: py (Python), odd (NoSuchLayer)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not prototxt.ParseNet, which rejects some of these itself.
			var p caffepb.NetParameter
			if err := prototext.Unmarshal([]byte(tc.text), &p); err != nil {
				t.Fatal(err)
			}
			_, err := New(&p, &layers.Context{Phase: caffepb.Phase_TRAIN})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestV1Net(t *testing.T) {
	n, err := New(&caffepb.NetParameter{
		Input: []string{"data"}, InputDim: []int32{2, 3, 1, 1},
		Layers: []*caffepb.V1LayerParameter{{
			Name: proto.String("fc"), Type: caffepb.V1LayerParameter_INNER_PRODUCT.Enum(),
			Bottom: []string{"data"}, Top: []string{"fc"}, BlobsLr: []float32{1, 2},
			InnerProductParam: &caffepb.InnerProductParameter{NumOutput: proto.Uint32(4)},
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := n.BlobByName("fc").ShapeString(); s != "2 4 (8)" {
		t.Errorf("fc shape %s", s)
	}
	if p := n.LearnableParams(); len(p) != 2 || p[1].LrMult != 2 {
		t.Errorf("params from blobs_lr: %v", p)
	}
}

func TestLegacyInputs(t *testing.T) {
	n, err := New(parse(t, `
name: "deploy"
input: "data"
input_shape { dim: 2 dim: 3 }
layer { name: "s" type: "TestScale" bottom: "data" top: "s" }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.LayerNames()[0] != "input" || n.LayerByName("input").Type() != "Input" {
		t.Errorf("layers %v", n.LayerNames())
	}
	if s := n.BlobByName("data").ShapeString(); s != "2 3 (6)" {
		t.Errorf("data shape %s", s)
	}
	if n.Phase() != caffepb.Phase_TEST {
		t.Errorf("default phase %v, want TEST", n.Phase())
	}
}

func TestReshapeFollowsInputs(t *testing.T) {
	n := build(t, `
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 6 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "s" type: "TestScale" bottom: "ip" top: "s" }
`, caffepb.Phase_TEST, 1)
	n.BlobByName("data").Reshape(2, 6)
	if _, err := n.Forward(); err != nil {
		t.Fatal(err)
	}
	if s := n.BlobByName("s").ShapeString(); s != "2 5 (10)" {
		t.Errorf("s shape %s after the input shrank", s)
	}
	if n.BatchSize() != 2 {
		t.Errorf("batch %d", n.BatchSize())
	}
	n.BlobByName("data").Reshape(3, 7)
	if _, err := n.Forward(); err == nil || !strings.Contains(err.Error(), `"ip"`) {
		t.Errorf("incompatible input: got %v", err)
	}
	n.BlobByName("data").Reshape(3, 6)
	if err := n.Reshape(); err != nil || n.BlobByName("s").Num() != 3 {
		t.Errorf("Reshape: %v, batch %d", err, n.BlobByName("s").Num())
	}
}

func TestDataKeysBatchSizeClose(t *testing.T) {
	n := build(t, `
layer { name: "d" type: "TestKeyedData" top: "x" }
layer { name: "s" type: "TestScale" bottom: "x" top: "s" }
layer { name: "loss" type: "TestSquareLoss" bottom: "s" top: "loss" }
`, caffepb.Phase_TRAIN, 1)
	if _, err := n.Forward(); err != nil {
		t.Fatal(err)
	}
	if k := n.DataKeys(); !slices.Equal(k, []string{"00000000", "00000001", "00000002"}) || n.BatchSize() != 3 {
		t.Errorf("keys %v batch %d", k, n.BatchSize())
	}
	if err := n.Close(); err != nil || n.LayerByName("d").(*testKeyedData).closed != 1 {
		t.Errorf("Close: %v", err)
	}
	if k := build(t, `layer { name: "d" type: "Input" top: "x" input_param { shape { dim: 1 } } }`, 0, 1).DataKeys(); k != nil {
		t.Errorf("keys without a keyed layer: %v", k)
	}
}

func TestLogging(t *testing.T) {
	var lines []string
	_, err := NewWithOptions(parse(t, splitNet), &layers.Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(1))},
		Options{Logf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Creating Layer ip1", "ip1 <- data", "ip1 -> ip1", "Setting up ip1", "Top shape: 4 5 (20)",
		"Creating Layer ip1_ip1_0_split", "sa <- ip1_ip1_0_split_0", "    with loss weight 0.5", "    with loss weight 1",
		"ip1 needs backward computation.", "data does not need backward computation.",
		"This network produces output l1", "This network produces output loss", "Network initialization done."} {
		if !slices.Contains(lines, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestDebugInfo(t *testing.T) {
	var lines []string
	n, err := NewWithOptions(parse(t, "debug_info: true\n"+sharedNet), &layers.Context{Phase: caffepb.Phase_TRAIN, Rand: rand.New(rand.NewSource(1))},
		Options{Logf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	fillInputs(n, 1, 1)
	lines = nil
	n.ForwardBackward()
	mid := n.BlobByName("m")
	var s float64
	for _, v := range mid.Data {
		s += math.Abs(float64(v))
	}
	want := fmt.Sprintf("    [Forward] Layer mid, top blob m data: %g", s/float64(mid.Count()))
	for _, w := range []string{want, "    [Backward] Layer ipB, bottom blob m diff: ", "    [Backward] Layer ipA, param blob 1 diff: "} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("no line %q in %q", w, lines)
		}
	}
}

func TestTimings(t *testing.T) {
	n := build(t, sharedNet, caffepb.Phase_TRAIN, 1)
	n.EnableTimings(true)
	for i := 0; i < 3; i++ {
		n.ForwardBackward()
	}
	tm := n.Timings()
	if len(tm) != n.NumLayers() || tm[1].Name != "ipA" || tm[1].ForwardCalls != 3 || tm[1].BackwardCalls != 3 || tm[0].BackwardCalls != 0 {
		t.Errorf("timings %+v", tm)
	}
	n.ResetTimings()
	if n.Timings()[1].Forward != 0 {
		t.Error("ResetTimings")
	}
}

func TestForwardBackwardAllocatesNothing(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"test layers", sharedNet},
		{"split", splitNet},
		{"lenet-like", lenetLike},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := build(t, tc.text, caffepb.Phase_TEST, 1)
			fillInputs(n, 1, 3)
			n.SetParamsReadyHook(func([]*Param) {})
			n.EnableTimings(true)
			n.ForwardBackward()
			if a := testing.AllocsPerRun(5, func() {
				n.ClearParamDiffs()
				if _, err := n.ForwardBackward(); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%g allocations per ForwardBackward", a)
			}
		})
	}
}

const lenet64 = `
name: "LeNet"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 64 dim: 1 dim: 28 dim: 28 } shape { dim: 64 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 50 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1" param { lr_mult: 1 } param { lr_mult: 2 }
  inner_product_param { num_output: 500 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" param { lr_mult: 1 } param { lr_mult: 2 }
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
`

// BenchmarkLeNetForwardBackward times one training pass of LeNet (batch 64)
// through the net, with Caffe-style per-layer times in the log (-v).
func BenchmarkLeNetForwardBackward(b *testing.B) {
	n := build(b, lenet64, caffepb.Phase_TRAIN, 1)
	fillInputs(n, 1, 10)
	n.ForwardBackward()
	n.EnableTimings(true)
	n.ResetTimings()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.ClearParamDiffs()
		if _, err := n.ForwardBackward(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, tm := range n.Timings() {
		if tm.ForwardCalls > 0 {
			b.Logf("%10s forward: %.3f ms backward: %.3f ms", tm.Name,
				float64(tm.Forward.Microseconds())/1000/float64(tm.ForwardCalls),
				float64(tm.Backward.Microseconds())/1000/float64(max(1, tm.BackwardCalls)))
		}
	}
}
