// Package net is Caffe's Net: it builds the layer graph of a NetParameter for
// one phase and runs it forward and backward.
//
// Building follows Caffe's Net::Init. Layers whose include/exclude rules do
// not match the net state (param.state with the phase taken from the
// layer Context) are dropped; nets in older formats and legacy net-level
// inputs are upgraded first (package prototxt). Blobs are wired by name: a
// top named like the bottom at the same index is computed in place (the
// same Blob); any other reuse of a top name is an error. A blob read by more
// than one layer — or read and also counted as a loss — gets a Split layer
// after its producer, so that each reader has its own gradient and the
// producer receives their sum (Caffe's InsertSplits, with Caffe's names
// "<blob>_<layer>_<i>_split").
//
// Loss: every top has a loss weight (LayerParameter.loss_weight, or 1 on
// top[0] of a layers.LossLayer). Forward returns sum of weight × sum(top
// data); Backward starts each weighted top's gradient at its weight.
//
// Backward runs only where it matters, as Caffe decides: a layer needs
// backward when a bottom needs it or it has a param with lr_mult != 0, and
// it contributes to a loss; propagate_down and force_backward are honoured.
// Unlike Caffe, a bottom a layer refuses (layers.BottomPropagator, e.g. a
// loss's label) is never asked for a gradient, even when an upstream layer
// would want one, so such nets do not abort.
//
// Params: each param has lr_mult and decay_mult from its ParamSpec
// (default 1). Params with the same ParamSpec name share one storage (data
// and diff), owned by the first layer naming it; LearnableParams lists each
// owner once and the gradient of all users accumulates into it. A hook set
// with SetParamsReadyHook sees each learnable param exactly once per
// Backward, as soon as no remaining layer can add to its gradient, so an
// all-reduce can overlap the rest of the backward pass.
//
// Forward and Backward allocate nothing: all per-layer state is built at
// New. A layer is re-shaped (Layer.Reshape) before its Forward only when
// one of its bottoms changed shape since the last time, which gives Caffe's
// reshape-every-forward behaviour without its cost.
//
// Weights: ToProto gives the NetParameter a .caffemodel holds;
// CopyTrainedLayersFrom loads one by layer name (fine-tuning);
// ShareWeightsFrom lets a TEST net use a TRAIN net's weight storage.
//
// Tools: Options.Logf receives Caffe's construction log (and, with the
// net's debug_info, per-layer mean |data| and |diff|); EnableTimings and
// Timings, or ForwardLayer and BackwardLayer, time layers one by one like
// `caffe time`.
package net
