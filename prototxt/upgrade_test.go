package prototxt

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// A small V1 LeNet-like net, written the way Caffe files were in 2014.
const v1Net = `name: "LeNetV1"
layers {
  name: "mnist"
  type: DATA
  top: "data"
  top: "label"
  data_param { source: "mnist_train_lmdb" backend: LMDB batch_size: 64 scale: 0.00390625 mirror: true }
  include: { phase: TRAIN }
}
layers {
  name: "conv1"
  type: CONVOLUTION
  bottom: "data"
  top: "conv1"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  param: "conv1_w"
  param: "conv1_b"
  blob_share_mode: PERMISSIVE
  convolution_param { num_output: 20 kernel_size: 5 stride: 1 weight_filler { type: "xavier" } }
}
layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layers { name: "ip1" type: INNER_PRODUCT bottom: "pool1" top: "ip1" inner_product_param { num_output: 10 } }
layers { name: "relu" type: RELU bottom: "ip1" top: "ip1" relu_param { negative_slope: 0.1 } }
layers { name: "loss" type: SOFTMAX_LOSS bottom: "ip1" bottom: "label" top: "loss" loss_weight: 2 exclude { phase: TEST } }
layers { name: "acc" type: ACCURACY bottom: "ip1" bottom: "label" top: "acc" accuracy_param { top_k: 5 } }
`

func TestUpgradeV1Net(t *testing.T) {
	np, err := ParseNet([]byte(v1Net), "v1.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	if len(np.Layers) != 0 {
		t.Fatalf("V1 layers left: %d", len(np.Layers))
	}
	wantTypes := []string{"Data", "Convolution", "Pooling", "InnerProduct", "ReLU", "SoftmaxWithLoss", "Accuracy"}
	if len(np.Layer) != len(wantTypes) {
		t.Fatalf("%d layers", len(np.Layer))
	}
	for i, w := range wantTypes {
		if np.Layer[i].GetType() != w {
			t.Errorf("layer %d type %q, want %q", i, np.Layer[i].GetType(), w)
		}
	}
	data := np.Layer[0]
	if data.GetTransformParam().GetScale() != 0.00390625 || !data.GetTransformParam().GetMirror() {
		t.Errorf("transform_param = %v", data.GetTransformParam())
	}
	if data.GetDataParam().Scale != nil || data.GetDataParam().Mirror != nil ||
		data.GetDataParam().GetSource() != "mnist_train_lmdb" || data.GetDataParam().GetBackend() != caffepb.DataParameter_LMDB {
		t.Errorf("data_param = %v", data.GetDataParam())
	}
	if len(data.Include) != 1 || data.Include[0].GetPhase() != caffepb.Phase_TRAIN {
		t.Errorf("include = %v", data.Include)
	}
	conv := np.Layer[1]
	want := []*caffepb.ParamSpec{
		{Name: proto.String("conv1_w"), ShareMode: caffepb.ParamSpec_PERMISSIVE.Enum(), LrMult: proto.Float32(1), DecayMult: proto.Float32(1)},
		{Name: proto.String("conv1_b"), LrMult: proto.Float32(2), DecayMult: proto.Float32(0)},
	}
	if len(conv.Param) != 2 || !proto.Equal(conv.Param[0], want[0]) || !proto.Equal(conv.Param[1], want[1]) {
		t.Errorf("conv params = %v", conv.Param)
	}
	if conv.GetConvolutionParam().GetNumOutput() != 20 || conv.GetConvolutionParam().GetWeightFiller().GetType() != "xavier" {
		t.Errorf("convolution_param = %v", conv.GetConvolutionParam())
	}
	if np.Layer[2].GetPoolingParam().GetKernelSize() != 2 || np.Layer[4].GetReluParam().GetNegativeSlope() != float32(0.1) {
		t.Errorf("pool/relu params lost")
	}
	loss := np.Layer[5]
	if len(loss.LossWeight) != 1 || loss.LossWeight[0] != 2 || len(loss.Exclude) != 1 {
		t.Errorf("loss = %v", loss)
	}
	if np.Layer[6].GetAccuracyParam().GetTopK() != 5 {
		t.Errorf("accuracy_param lost")
	}
	// Upgrading again changes nothing.
	again := proto.Clone(np).(*caffepb.NetParameter)
	if up, err := UpgradeNet(again); up || err != nil || !proto.Equal(again, np) {
		t.Errorf("second upgrade: %v %v", up, err)
	}
}

func TestV1TypeNamesComplete(t *testing.T) {
	vals := caffepb.V1LayerParameter_NONE.Descriptor().Values()
	for i := 0; i < vals.Len(); i++ {
		v := caffepb.V1LayerParameter_LayerType(vals.Get(i).Number())
		name, ok := v1TypeNames[v]
		if !ok {
			t.Errorf("no type name for %v", v)
		}
		if v != caffepb.V1LayerParameter_NONE && name == "" {
			t.Errorf("empty type name for %v", v)
		}
	}
	for _, tc := range []struct {
		v    caffepb.V1LayerParameter_LayerType
		want string
	}{
		{caffepb.V1LayerParameter_SOFTMAX_LOSS, "SoftmaxWithLoss"},
		{caffepb.V1LayerParameter_HDF5_DATA, "HDF5Data"},
		{caffepb.V1LayerParameter_TANH, "TanH"},
		{caffepb.V1LayerParameter_ABSVAL, "AbsVal"},
		{caffepb.V1LayerParameter_IM2COL, "Im2col"},
	} {
		if got := V1TypeName(tc.v); got != tc.want {
			t.Errorf("V1TypeName(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

const v0Net = `name: "V0"
input: "data"
input_dim: 10
input_dim: 3
input_dim: 32
input_dim: 32
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers {
  layer { name: "conv1" type: "conv" num_output: 8 kernelsize: 5 stride: 1 biasterm: false
          weight_filler { type: "gaussian" std: 0.01 } blobs_lr: 1 weight_decay: 1 }
  bottom: "pad1" top: "conv1"
}
layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 3 stride: 2 } bottom: "conv1" top: "pool1" }
layers { layer { name: "norm1" type: "lrn" local_size: 3 alpha: 5e-05 beta: 0.75 } bottom: "pool1" top: "norm1" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.3 } bottom: "norm1" top: "norm1" }
layers { layer { name: "fc" type: "innerproduct" num_output: 10 } bottom: "norm1" top: "fc" }
layers { layer { name: "prob" type: "softmax" } bottom: "fc" top: "prob" }
`

func TestUpgradeV0Net(t *testing.T) {
	np, err := ParseNet([]byte(v0Net), "v0.prototxt")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range np.Layer {
		types = append(types, l.GetName()+":"+l.GetType())
	}
	want := "input:Input conv1:Convolution pool1:Pooling norm1:LRN drop:Dropout fc:InnerProduct prob:Softmax"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("layers %q, want %q", got, want)
	}
	in := np.Layer[0]
	if len(in.Top) != 1 || in.Top[0] != "data" || len(in.GetInputParam().GetShape()) != 1 ||
		!equalDims(in.GetInputParam().GetShape()[0].GetDim(), []int64{10, 3, 32, 32}) {
		t.Errorf("input layer = %v", in)
	}
	if len(np.Input) != 0 || len(np.InputDim) != 0 {
		t.Errorf("net inputs left behind")
	}
	conv := np.Layer[1]
	cp := conv.GetConvolutionParam()
	if conv.Bottom[0] != "data" || len(cp.Pad) != 1 || cp.Pad[0] != 2 || cp.GetNumOutput() != 8 ||
		cp.KernelSize[0] != 5 || cp.GetBiasTerm() || cp.GetWeightFiller().GetStd() != float32(0.01) {
		t.Errorf("conv1 = %v", conv)
	}
	if len(conv.Param) != 1 || conv.Param[0].GetLrMult() != 1 {
		t.Errorf("conv1 param = %v", conv.Param)
	}
	pp := np.Layer[2].GetPoolingParam()
	if pp.GetPool() != caffepb.PoolingParameter_AVE || pp.GetKernelSize() != 3 || pp.GetStride() != 2 {
		t.Errorf("pool = %v", pp)
	}
	if lp := np.Layer[3].GetLrnParam(); lp.GetLocalSize() != 3 || lp.GetAlpha() != float32(5e-05) {
		t.Errorf("lrn = %v", lp)
	}
	if np.Layer[4].GetDropoutParam().GetDropoutRatio() != float32(0.3) {
		t.Errorf("dropout lost")
	}
}

func TestUpgradeV0Errors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown type", `layers { layer { name: "x" type: "wibble" } }`, "wibble"},
		{"field for wrong type", `layers { layer { name: "x" type: "relu" num_output: 3 } }`, "num_output"},
		{"padding into relu", `layers { layer { name: "p" type: "padding" pad: 1 } bottom: "a" top: "p" }
layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }`, "padding"},
		{"mixed layer and layers", `layer { name: "a" } layers { name: "b" type: RELU }`, "both"},
		{"input_dim count", `input: "a" input_dim: 1 input_dim: 2`, "input_dim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNet([]byte(tc.text), "x.prototxt")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "x.prototxt: ") {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestUpgradeInputShapeAndBatchNorm(t *testing.T) {
	np, err := ParseNet([]byte(`input: "a" input: "b"
input_shape { dim: 1 dim: 2 } input_shape { dim: 3 }
layer { name: "bn" type: "BatchNorm" bottom: "a" top: "a"
  param { lr_mult: 0 } param { lr_mult: 0 } param { lr_mult: 0 } }`), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(np.Layer) != 2 || np.Layer[0].GetType() != "Input" || len(np.Layer[0].GetInputParam().GetShape()) != 2 ||
		len(np.Layer[0].Top) != 2 {
		t.Fatalf("net = %v", prototext.Format(np))
	}
	if len(np.Layer[1].Param) != 0 {
		t.Errorf("BatchNorm params kept: %v", np.Layer[1].Param)
	}
}

func TestUpgradeSolver(t *testing.T) {
	tests := []struct {
		text    string
		want    string
		wantErr bool
	}{
		{"solver_type: SGD", "SGD", false},
		{"solver_type: NESTEROV", "Nesterov", false},
		{"solver_type: ADAGRAD", "AdaGrad", false},
		{"solver_type: RMSPROP", "RMSProp", false},
		{"solver_type: ADADELTA", "AdaDelta", false},
		{"solver_type: ADAM", "Adam", false},
		{`type: "Adam"`, "Adam", false},
		{"", "SGD", false},
		{`solver_type: ADAM type: "SGD"`, "", true},
	}
	for _, tc := range tests {
		sp, err := ParseSolver([]byte(tc.text), "s")
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.text)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if sp.GetType() != tc.want || sp.SolverType != nil {
			t.Errorf("%q: type %q solver_type %v, want %q", tc.text, sp.GetType(), sp.SolverType, tc.want)
		}
	}
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
