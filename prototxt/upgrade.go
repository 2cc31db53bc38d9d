package prototxt

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// UpgradeNet brings a net written in one of Caffe's older formats up to the
// current one, in place, as Caffe's upgrade_proto does:
//
//   - V0 (`layers { layer { type: "conv" ... } }`): "padding" layers are folded
//     into the pad of the convolution that reads them, and each layer becomes
//     a V1 layer;
//   - deprecated data-layer pre-processing fields (scale, mean_file,
//     crop_size, mirror in data_param / image_data_param / window_data_param)
//     move into transform_param;
//   - V1 (`layers { type: CONVOLUTION ... }`) becomes `layer { type:
//     "Convolution" ... }`: blobs_lr becomes param.lr_mult, weight_decay
//     param.decay_mult, param names and share modes are kept, and every
//     *_param sub-message moves across;
//   - net-level input / input_shape / input_dim become an "Input" layer;
//   - BatchNorm layers lose the three param specs old nets gave them.
//
// It reports whether anything changed. A net mixing `layer` and `layers`, or
// holding something that cannot be upgraded, is an error.
func UpgradeNet(net *caffepb.NetParameter) (upgraded bool, err error) {
	if net == nil {
		return false, nil
	}
	if netNeedsV0Upgrade(net) {
		if err := upgradeV0Net(net); err != nil {
			return true, fmt.Errorf("upgrading V0 net: %w", err)
		}
		upgraded = true
	}
	if moveV1DataTransform(net) {
		upgraded = true
	}
	if len(net.Layers) > 0 {
		if len(net.Layer) > 0 {
			return upgraded, fmt.Errorf("net uses both `layer` and the deprecated `layers`; use only `layer`")
		}
		if err := upgradeV1Net(net); err != nil {
			return true, fmt.Errorf("upgrading V1 net: %w", err)
		}
		upgraded = true
	}
	if moveDataTransform(net) {
		upgraded = true
	}
	if len(net.Input) > 0 || len(net.InputShape) > 0 || len(net.InputDim) > 0 {
		if err := upgradeInput(net); err != nil {
			return true, fmt.Errorf("upgrading net inputs: %w", err)
		}
		upgraded = true
	}
	for _, l := range net.Layer {
		if l.GetType() == "BatchNorm" && len(l.Param) == 3 {
			l.Param = nil
			upgraded = true
		}
	}
	return upgraded, nil
}

// UpgradeSolver replaces the deprecated solver_type enum by the type string,
// in place, and reports whether it did. Setting both is an error, as in Caffe.
func UpgradeSolver(sp *caffepb.SolverParameter) (upgraded bool, err error) {
	if sp == nil || sp.SolverType == nil {
		return false, nil
	}
	var t string
	switch sp.GetSolverType() {
	case caffepb.SolverParameter_SGD:
		t = "SGD"
	case caffepb.SolverParameter_NESTEROV:
		t = "Nesterov"
	case caffepb.SolverParameter_ADAGRAD:
		t = "AdaGrad"
	case caffepb.SolverParameter_RMSPROP:
		t = "RMSProp"
	case caffepb.SolverParameter_ADADELTA:
		t = "AdaDelta"
	case caffepb.SolverParameter_ADAM:
		t = "Adam"
	default:
		return false, fmt.Errorf("unknown solver_type %d", sp.GetSolverType())
	}
	if sp.Type != nil {
		return false, fmt.Errorf("both the deprecated solver_type (%s) and type (%q) are set; keep only type", sp.GetSolverType(), sp.GetType())
	}
	sp.Type = proto.String(t)
	sp.SolverType = nil
	return true, nil
}

// V1TypeName maps a V1 layer type to its current type string ("" for NONE or
// an unknown value).
func V1TypeName(t caffepb.V1LayerParameter_LayerType) string {
	return v1TypeNames[t]
}

var v1TypeNames = map[caffepb.V1LayerParameter_LayerType]string{
	caffepb.V1LayerParameter_NONE:                       "",
	caffepb.V1LayerParameter_ABSVAL:                     "AbsVal",
	caffepb.V1LayerParameter_ACCURACY:                   "Accuracy",
	caffepb.V1LayerParameter_ARGMAX:                     "ArgMax",
	caffepb.V1LayerParameter_BNLL:                       "BNLL",
	caffepb.V1LayerParameter_CONCAT:                     "Concat",
	caffepb.V1LayerParameter_CONTRASTIVE_LOSS:           "ContrastiveLoss",
	caffepb.V1LayerParameter_CONVOLUTION:                "Convolution",
	caffepb.V1LayerParameter_DECONVOLUTION:              "Deconvolution",
	caffepb.V1LayerParameter_DATA:                       "Data",
	caffepb.V1LayerParameter_DROPOUT:                    "Dropout",
	caffepb.V1LayerParameter_DUMMY_DATA:                 "DummyData",
	caffepb.V1LayerParameter_EUCLIDEAN_LOSS:             "EuclideanLoss",
	caffepb.V1LayerParameter_ELTWISE:                    "Eltwise",
	caffepb.V1LayerParameter_EXP:                        "Exp",
	caffepb.V1LayerParameter_FLATTEN:                    "Flatten",
	caffepb.V1LayerParameter_HDF5_DATA:                  "HDF5Data",
	caffepb.V1LayerParameter_HDF5_OUTPUT:                "HDF5Output",
	caffepb.V1LayerParameter_HINGE_LOSS:                 "HingeLoss",
	caffepb.V1LayerParameter_IM2COL:                     "Im2col",
	caffepb.V1LayerParameter_IMAGE_DATA:                 "ImageData",
	caffepb.V1LayerParameter_INFOGAIN_LOSS:              "InfogainLoss",
	caffepb.V1LayerParameter_INNER_PRODUCT:              "InnerProduct",
	caffepb.V1LayerParameter_LRN:                        "LRN",
	caffepb.V1LayerParameter_MEMORY_DATA:                "MemoryData",
	caffepb.V1LayerParameter_MULTINOMIAL_LOGISTIC_LOSS:  "MultinomialLogisticLoss",
	caffepb.V1LayerParameter_MVN:                        "MVN",
	caffepb.V1LayerParameter_POOLING:                    "Pooling",
	caffepb.V1LayerParameter_POWER:                      "Power",
	caffepb.V1LayerParameter_RELU:                       "ReLU",
	caffepb.V1LayerParameter_SIGMOID:                    "Sigmoid",
	caffepb.V1LayerParameter_SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss",
	caffepb.V1LayerParameter_SILENCE:                    "Silence",
	caffepb.V1LayerParameter_SOFTMAX:                    "Softmax",
	caffepb.V1LayerParameter_SOFTMAX_LOSS:               "SoftmaxWithLoss",
	caffepb.V1LayerParameter_SPLIT:                      "Split",
	caffepb.V1LayerParameter_SLICE:                      "Slice",
	caffepb.V1LayerParameter_TANH:                       "TanH",
	caffepb.V1LayerParameter_WINDOW_DATA:                "WindowData",
	caffepb.V1LayerParameter_THRESHOLD:                  "Threshold",
}

// ---------------------------------------------------------------------------
// V1 -> current

func upgradeV1Net(net *caffepb.NetParameter) error {
	layers := make([]*caffepb.LayerParameter, 0, len(net.Layers))
	for i, v1 := range net.Layers {
		l, err := upgradeV1Layer(v1)
		if err != nil {
			name := v1.GetName()
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return fmt.Errorf("layer %q: %w", name, err)
		}
		layers = append(layers, l)
	}
	net.Layer = layers
	net.Layers = nil
	return nil
}

func upgradeV1Layer(v1 *caffepb.V1LayerParameter) (*caffepb.LayerParameter, error) {
	if v1.Layer != nil {
		return nil, fmt.Errorf("still holds a V0 layer definition")
	}
	l := &caffepb.LayerParameter{
		Name:       v1.Name,
		Bottom:     v1.Bottom,
		Top:        v1.Top,
		Include:    v1.Include,
		Exclude:    v1.Exclude,
		Blobs:      v1.Blobs,
		LossWeight: v1.LossWeight,
	}
	if v1.Type != nil {
		name, ok := v1TypeNames[v1.GetType()]
		if !ok {
			return nil, fmt.Errorf("unknown V1 layer type %d", v1.GetType())
		}
		if name != "" {
			l.Type = proto.String(name)
		}
	}
	// Per-blob settings: param names, share modes, lr and decay multipliers.
	n := max(len(v1.Param), len(v1.BlobShareMode), len(v1.BlobsLr), len(v1.WeightDecay))
	for i := 0; i < n; i++ {
		ps := &caffepb.ParamSpec{}
		if i < len(v1.Param) {
			ps.Name = proto.String(v1.Param[i])
		}
		if i < len(v1.BlobShareMode) {
			ps.ShareMode = caffepb.ParamSpec_DimCheckMode(v1.BlobShareMode[i]).Enum()
		}
		if i < len(v1.BlobsLr) {
			ps.LrMult = proto.Float32(v1.BlobsLr[i])
		}
		if i < len(v1.WeightDecay) {
			ps.DecayMult = proto.Float32(v1.WeightDecay[i])
		}
		l.Param = append(l.Param, ps)
	}
	// Every *_param sub-message has a field of the same name and type in
	// LayerParameter.
	src, dst := v1.ProtoReflect(), l.ProtoReflect()
	dfields := dst.Descriptor().Fields()
	var err error
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || !strings.HasSuffix(string(fd.Name()), "_param") {
			return true
		}
		dfd := dfields.ByName(fd.Name())
		if dfd == nil || dfd.Message().FullName() != fd.Message().FullName() {
			err = fmt.Errorf("no counterpart for %s", fd.Name())
			return false
		}
		dst.Set(dfd, v)
		return true
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ---------------------------------------------------------------------------
// Deprecated data-layer transformation fields -> transform_param

// transformFields are the deprecated pre-processing fields a data layer
// parameter may carry, by name; each has a same-named field in
// TransformationParameter.
var transformFields = []protoreflect.Name{"scale", "mean_file", "crop_size", "mirror"}

// moveTransform moves the deprecated fields of param (a data_param,
// image_data_param or window_data_param message, possibly nil) into *tp.
// A value already set in *tp wins. It reports whether anything moved. A typed
// nil param is fine: its reflection view is not valid.
func moveTransform(param proto.Message, tp **caffepb.TransformationParameter) bool {
	if param == nil || !param.ProtoReflect().IsValid() {
		return false
	}
	src := param.ProtoReflect()
	moved := false
	for _, name := range transformFields {
		fd := src.Descriptor().Fields().ByName(name)
		if fd == nil || !src.Has(fd) {
			continue
		}
		if *tp == nil {
			*tp = &caffepb.TransformationParameter{}
		}
		dst := (*tp).ProtoReflect()
		dfd := dst.Descriptor().Fields().ByName(name)
		if !dst.Has(dfd) {
			dst.Set(dfd, src.Get(fd))
		}
		src.Clear(fd)
		moved = true
	}
	return moved
}

func moveV1DataTransform(net *caffepb.NetParameter) bool {
	moved := false
	for _, l := range net.Layers {
		switch l.GetType() {
		case caffepb.V1LayerParameter_DATA:
			moved = moveTransform(l.DataParam, &l.TransformParam) || moved
		case caffepb.V1LayerParameter_IMAGE_DATA:
			moved = moveTransform(l.ImageDataParam, &l.TransformParam) || moved
		case caffepb.V1LayerParameter_WINDOW_DATA:
			moved = moveTransform(l.WindowDataParam, &l.TransformParam) || moved
		}
	}
	return moved
}

// moveDataTransform does the same for current-format layers, so a net that
// still sets e.g. data_param.scale is read as its author meant.
func moveDataTransform(net *caffepb.NetParameter) bool {
	moved := false
	for _, l := range net.Layer {
		switch l.GetType() {
		case "Data":
			moved = moveTransform(l.DataParam, &l.TransformParam) || moved
		case "ImageData":
			moved = moveTransform(l.ImageDataParam, &l.TransformParam) || moved
		case "WindowData":
			moved = moveTransform(l.WindowDataParam, &l.TransformParam) || moved
		}
	}
	return moved
}

// ---------------------------------------------------------------------------
// Net inputs -> Input layer

func upgradeInput(net *caffepb.NetParameter) error {
	nIn := len(net.Input)
	if nIn == 0 {
		return fmt.Errorf("input_shape or input_dim given without input names")
	}
	in := &caffepb.LayerParameter{
		Name:       proto.String("input"),
		Type:       proto.String("Input"),
		Top:        append([]string(nil), net.Input...),
		InputParam: &caffepb.InputParameter{},
	}
	switch {
	case len(net.InputShape) > 0:
		if len(net.InputShape) != 1 && len(net.InputShape) != nIn {
			return fmt.Errorf("%d input names but %d input_shape entries", nIn, len(net.InputShape))
		}
		in.InputParam.Shape = net.InputShape
	case len(net.InputDim) > 0:
		if len(net.InputDim) != 4*nIn {
			return fmt.Errorf("%d input names need %d input_dim values, got %d", nIn, 4*nIn, len(net.InputDim))
		}
		for i := 0; i < nIn; i++ {
			s := &caffepb.BlobShape{}
			for _, d := range net.InputDim[4*i : 4*i+4] {
				s.Dim = append(s.Dim, int64(d))
			}
			in.InputParam.Shape = append(in.InputParam.Shape, s)
		}
	}
	net.Layer = append([]*caffepb.LayerParameter{in}, net.Layer...)
	net.Input, net.InputShape, net.InputDim = nil, nil, nil
	return nil
}

// ---------------------------------------------------------------------------
// V0 -> V1

func netNeedsV0Upgrade(net *caffepb.NetParameter) bool {
	for _, l := range net.Layers {
		if l.Layer != nil {
			return true
		}
	}
	return false
}

func upgradeV0Net(net *caffepb.NetParameter) error {
	if err := foldV0Padding(net); err != nil {
		return err
	}
	for i, l := range net.Layers {
		if l.Layer == nil {
			continue
		}
		if err := upgradeV0Layer(l); err != nil {
			name := l.Layer.GetName()
			if name == "" {
				name = fmt.Sprintf("#%d", i)
			}
			return fmt.Errorf("layer %q: %w", name, err)
		}
	}
	return nil
}

// foldV0Padding removes V0 "padding" layers; each convolution (or pooling)
// that reads a padding layer's output reads its input instead and takes its
// pad.
func foldV0Padding(net *caffepb.NetParameter) error {
	type pad struct {
		bottom string
		pad    uint32
	}
	pads := map[string]pad{} // padding layer's top -> its input and pad
	var kept []*caffepb.V1LayerParameter
	for _, l := range net.Layers {
		v0 := l.Layer
		if v0 != nil && v0.GetType() == "padding" {
			if len(l.Bottom) != 1 || len(l.Top) != 1 {
				return fmt.Errorf("padding layer %q must have one bottom and one top", v0.GetName())
			}
			pads[l.Top[0]] = pad{bottom: l.Bottom[0], pad: v0.GetPad()}
			continue
		}
		for j, b := range l.Bottom {
			p, ok := pads[b]
			if !ok {
				continue
			}
			t := ""
			if v0 != nil {
				t = v0.GetType()
			}
			if t != "conv" && t != "pool" {
				name := l.GetName()
				if v0 != nil {
					name = v0.GetName()
				}
				return fmt.Errorf("padding output %q feeds layer %q of type %q; only conv and pool layers may read padding layers", b, name, t)
			}
			l.Bottom[j] = p.bottom
			v0.Pad = proto.Uint32(p.pad)
		}
		kept = append(kept, l)
	}
	net.Layers = kept
	return nil
}

var v0Types = map[string]caffepb.V1LayerParameter_LayerType{
	"accuracy":                  caffepb.V1LayerParameter_ACCURACY,
	"bnll":                      caffepb.V1LayerParameter_BNLL,
	"concat":                    caffepb.V1LayerParameter_CONCAT,
	"conv":                      caffepb.V1LayerParameter_CONVOLUTION,
	"data":                      caffepb.V1LayerParameter_DATA,
	"dropout":                   caffepb.V1LayerParameter_DROPOUT,
	"euclidean_loss":            caffepb.V1LayerParameter_EUCLIDEAN_LOSS,
	"flatten":                   caffepb.V1LayerParameter_FLATTEN,
	"hdf5_data":                 caffepb.V1LayerParameter_HDF5_DATA,
	"hdf5_output":               caffepb.V1LayerParameter_HDF5_OUTPUT,
	"im2col":                    caffepb.V1LayerParameter_IM2COL,
	"images":                    caffepb.V1LayerParameter_IMAGE_DATA,
	"infogain_loss":             caffepb.V1LayerParameter_INFOGAIN_LOSS,
	"innerproduct":              caffepb.V1LayerParameter_INNER_PRODUCT,
	"lrn":                       caffepb.V1LayerParameter_LRN,
	"multinomial_logistic_loss": caffepb.V1LayerParameter_MULTINOMIAL_LOGISTIC_LOSS,
	"pool":                      caffepb.V1LayerParameter_POOLING,
	"relu":                      caffepb.V1LayerParameter_RELU,
	"sigmoid":                   caffepb.V1LayerParameter_SIGMOID,
	"softmax":                   caffepb.V1LayerParameter_SOFTMAX,
	"softmax_loss":              caffepb.V1LayerParameter_SOFTMAX_LOSS,
	"split":                     caffepb.V1LayerParameter_SPLIT,
	"tanh":                      caffepb.V1LayerParameter_TANH,
	"window_data":               caffepb.V1LayerParameter_WINDOW_DATA,
}

// upgradeV0Layer rewrites the V1 entry l, whose definition is in l.Layer,
// into V1 fields and clears l.Layer.
func upgradeV0Layer(l *caffepb.V1LayerParameter) error {
	v0 := l.Layer
	typ := v0.GetType()
	if v0.Name != nil {
		l.Name = v0.Name
	}
	if v0.Type != nil {
		t, ok := v0Types[typ]
		if !ok {
			return fmt.Errorf("unknown V0 layer type %q", typ)
		}
		l.Type = t.Enum()
	}
	l.Blobs = append(l.Blobs, v0.Blobs...)
	l.BlobsLr = append(l.BlobsLr, v0.BlobsLr...)
	l.WeightDecay = append(l.WeightDecay, v0.WeightDecay...)

	unsupported := func(field string) error {
		return fmt.Errorf("V0 field %s is not valid for layer type %q", field, typ)
	}
	conv := func() *caffepb.ConvolutionParameter {
		if l.ConvolutionParam == nil {
			l.ConvolutionParam = &caffepb.ConvolutionParameter{}
		}
		return l.ConvolutionParam
	}
	ip := func() *caffepb.InnerProductParameter {
		if l.InnerProductParam == nil {
			l.InnerProductParam = &caffepb.InnerProductParameter{}
		}
		return l.InnerProductParam
	}
	pool := func() *caffepb.PoolingParameter {
		if l.PoolingParam == nil {
			l.PoolingParam = &caffepb.PoolingParameter{}
		}
		return l.PoolingParam
	}
	data := func() *caffepb.DataParameter {
		if l.DataParam == nil {
			l.DataParam = &caffepb.DataParameter{}
		}
		return l.DataParam
	}
	img := func() *caffepb.ImageDataParameter {
		if l.ImageDataParam == nil {
			l.ImageDataParam = &caffepb.ImageDataParameter{}
		}
		return l.ImageDataParam
	}
	win := func() *caffepb.WindowDataParameter {
		if l.WindowDataParam == nil {
			l.WindowDataParam = &caffepb.WindowDataParameter{}
		}
		return l.WindowDataParam
	}
	hdf5 := func() *caffepb.HDF5DataParameter {
		if l.Hdf5DataParam == nil {
			l.Hdf5DataParam = &caffepb.HDF5DataParameter{}
		}
		return l.Hdf5DataParam
	}
	lrn := func() *caffepb.LRNParameter {
		if l.LrnParam == nil {
			l.LrnParam = &caffepb.LRNParameter{}
		}
		return l.LrnParam
	}
	tp := func() *caffepb.TransformationParameter {
		if l.TransformParam == nil {
			l.TransformParam = &caffepb.TransformationParameter{}
		}
		return l.TransformParam
	}

	if v0.NumOutput != nil {
		switch typ {
		case "conv":
			conv().NumOutput = v0.NumOutput
		case "innerproduct":
			ip().NumOutput = v0.NumOutput
		default:
			return unsupported("num_output")
		}
	}
	if v0.Biasterm != nil {
		switch typ {
		case "conv":
			conv().BiasTerm = v0.Biasterm
		case "innerproduct":
			ip().BiasTerm = v0.Biasterm
		default:
			return unsupported("biasterm")
		}
	}
	if v0.WeightFiller != nil {
		switch typ {
		case "conv":
			conv().WeightFiller = v0.WeightFiller
		case "innerproduct":
			ip().WeightFiller = v0.WeightFiller
		default:
			return unsupported("weight_filler")
		}
	}
	if v0.BiasFiller != nil {
		switch typ {
		case "conv":
			conv().BiasFiller = v0.BiasFiller
		case "innerproduct":
			ip().BiasFiller = v0.BiasFiller
		default:
			return unsupported("bias_filler")
		}
	}
	if v0.Pad != nil {
		switch typ {
		case "conv":
			conv().Pad = append(conv().Pad, v0.GetPad())
		case "pool":
			pool().Pad = v0.Pad
		default:
			return unsupported("pad")
		}
	}
	if v0.Kernelsize != nil {
		switch typ {
		case "conv":
			conv().KernelSize = append(conv().KernelSize, v0.GetKernelsize())
		case "pool":
			pool().KernelSize = v0.Kernelsize
		default:
			return unsupported("kernelsize")
		}
	}
	if v0.Group != nil {
		if typ != "conv" {
			return unsupported("group")
		}
		conv().Group = v0.Group
	}
	if v0.Stride != nil {
		switch typ {
		case "conv":
			conv().Stride = append(conv().Stride, v0.GetStride())
		case "pool":
			pool().Stride = v0.Stride
		default:
			return unsupported("stride")
		}
	}
	if v0.Pool != nil {
		if typ != "pool" {
			return unsupported("pool")
		}
		pool().Pool = caffepb.PoolingParameter_PoolMethod(v0.GetPool()).Enum()
	}
	if v0.DropoutRatio != nil {
		if typ != "dropout" {
			return unsupported("dropout_ratio")
		}
		l.DropoutParam = &caffepb.DropoutParameter{DropoutRatio: v0.DropoutRatio}
	}
	if v0.LocalSize != nil || v0.Alpha != nil || v0.Beta != nil || v0.K != nil {
		if typ != "lrn" {
			return unsupported("local_size/alpha/beta/k")
		}
		p := lrn()
		p.LocalSize, p.Alpha, p.Beta, p.K = v0.LocalSize, v0.Alpha, v0.Beta, v0.K
	}
	if v0.Source != nil {
		switch typ {
		case "data":
			data().Source = v0.Source
		case "hdf5_data":
			hdf5().Source = v0.Source
		case "images":
			img().Source = v0.Source
		case "window_data":
			win().Source = v0.Source
		case "infogain_loss":
			l.InfogainLossParam = &caffepb.InfogainLossParameter{Source: v0.Source}
		default:
			return unsupported("source")
		}
	}
	if v0.Scale != nil {
		tp().Scale = v0.Scale
	}
	if v0.Meanfile != nil {
		tp().MeanFile = v0.Meanfile
	}
	if v0.Cropsize != nil {
		tp().CropSize = v0.Cropsize
	}
	if v0.Mirror != nil {
		tp().Mirror = v0.Mirror
	}
	if v0.Batchsize != nil {
		switch typ {
		case "data":
			data().BatchSize = v0.Batchsize
		case "hdf5_data":
			hdf5().BatchSize = v0.Batchsize
		case "images":
			img().BatchSize = v0.Batchsize
		case "window_data":
			win().BatchSize = v0.Batchsize
		default:
			return unsupported("batchsize")
		}
	}
	if v0.RandSkip != nil {
		switch typ {
		case "data":
			data().RandSkip = v0.RandSkip
		case "images":
			img().RandSkip = v0.RandSkip
		default:
			return unsupported("rand_skip")
		}
	}
	if v0.ShuffleImages != nil {
		if typ != "images" {
			return unsupported("shuffle_images")
		}
		img().Shuffle = v0.ShuffleImages
	}
	if v0.NewHeight != nil || v0.NewWidth != nil {
		if typ != "images" {
			return unsupported("new_height/new_width")
		}
		if v0.NewHeight != nil {
			img().NewHeight = proto.Uint32(uint32(max(v0.GetNewHeight(), 0)))
		}
		if v0.NewWidth != nil {
			img().NewWidth = proto.Uint32(uint32(max(v0.GetNewWidth(), 0)))
		}
	}
	if v0.ConcatDim != nil {
		if typ != "concat" {
			return unsupported("concat_dim")
		}
		l.ConcatParam = &caffepb.ConcatParameter{ConcatDim: v0.ConcatDim}
	}
	if v0.DetFgThreshold != nil || v0.DetBgThreshold != nil || v0.DetFgFraction != nil ||
		v0.DetContextPad != nil || v0.DetCropMode != nil {
		if typ != "window_data" {
			return unsupported("det_*")
		}
		w := win()
		w.FgThreshold, w.BgThreshold, w.FgFraction = v0.DetFgThreshold, v0.DetBgThreshold, v0.DetFgFraction
		w.ContextPad, w.CropMode = v0.DetContextPad, v0.DetCropMode
	}
	if v0.Hdf5OutputParam != nil {
		if typ != "hdf5_output" {
			return unsupported("hdf5_output_param")
		}
		l.Hdf5OutputParam = v0.Hdf5OutputParam
	}
	l.Layer = nil
	return nil
}
