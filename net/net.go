package net

import (
	"errors"
	"io"
	"time"

	"github.com/cos-project/cos/layers"
	"github.com/cos-project/cos/prototxt/caffepb"
)

// Param is one learnable parameter blob of the net as the solver sees it:
// the storage owner (for params shared by name, the first layer naming
// it) with its learning-rate and weight-decay multipliers.
type Param struct {
	// Blob holds the values (Data) and the accumulated gradient (Diff).
	Blob *layers.Blob
	// LrMult and DecayMult scale the solver's learning rate and weight
	// decay for this param (ParamSpec lr_mult, decay_mult; default 1).
	LrMult, DecayMult float32
	// Owner is the name of the layer that owns the storage.
	Owner string
	// Index is the param's position in the owner's Params().
	Index int
	// Name is the ParamSpec name, or "" when the param is not shared by name.
	Name string
	// ID is the param's position in LearnableParams.
	ID int
}

// Options tune how a net is built.
type Options struct {
	// Logf, when set, receives Caffe's net construction log lines
	// ("Creating Layer conv1", "conv1 <- data", "Top shape: 64 20 24 24
	// (737280)", "conv1 needs backward computation.", ...), without glog's
	// prefix and without a trailing newline. When the net sets debug_info,
	// Forward and Backward also log Caffe's per-blob "[Forward] Layer conv1,
	// top blob conv1 data: 0.0123" lines here (and then allocate).
	Logf func(format string, args ...any)
}

// share is a param blob that uses another layer's param storage (shared
// by ParamSpec name).
type share struct{ user, owner *layers.Blob }

// lossTop is a top blob with a non-zero loss weight.
type lossTop struct {
	blob   *layers.Blob
	weight float32
}

// node is one layer of the built net with everything Forward and Backward
// need, precomputed so that running it allocates nothing.
type node struct {
	name  string
	lp    *caffepb.LayerParameter // as built: filtered, split-renamed, no blobs
	layer layers.Layer

	bottom, top         []*layers.Blob
	bottomIDs, topIDs   []int
	bottomNeedsBackward []bool
	needsBackward       bool
	lossWeights         []float32 // per top
	losses              []lossTop // tops with a non-zero weight
	params              []*layers.Blob
	paramNeedsBackward  []bool
	ready               []*Param // owners whose gradient is final after this layer's Backward

	// lastShapes are the bottom shapes at the last Reshape; Forward
	// re-shapes the layer only when one differs.
	lastShapes [][]int

	fwdTime, bwdTime   time.Duration
	fwdCalls, bwdCalls int
}

// Net is Caffe's Net: an ordered list of layers wired by named blobs.
// A Net is not safe for concurrent use.
type Net struct {
	name  string
	phase caffepb.Phase
	state *caffepb.NetState
	ctx   *layers.Context
	logf  func(string, ...any)

	nodes     []*node
	nameIndex map[string]int // first layer with a name

	blobs     []*layers.Blob
	blobIndex map[string]int

	outputs       []*layers.Blob
	outputNames   []string
	outputWeights []float32

	learnable []*Param
	shares    []share
	hook      func(params []*Param)
	timing    bool
	debug     bool // debug_info: log mean |data| and |diff| per layer
}

// Name is the net's name (NetParameter.name).
func (n *Net) Name() string { return n.name }

// Phase is the phase the net was built for.
func (n *Net) Phase() caffepb.Phase { return n.phase }

// Context is the layer context the net was built with (Rand is set).
func (n *Net) Context() *layers.Context { return n.ctx }

// Layers returns the layers in execution order, including inserted Split
// layers. The slice is fresh; the layers are the net's own.
func (n *Net) Layers() []layers.Layer {
	out := make([]layers.Layer, len(n.nodes))
	for i, nd := range n.nodes {
		out[i] = nd.layer
	}
	return out
}

// LayerNames returns the layer names in execution order.
func (n *Net) LayerNames() []string {
	out := make([]string, len(n.nodes))
	for i, nd := range n.nodes {
		out[i] = nd.name
	}
	return out
}

// NumLayers is the number of layers, Split layers included.
func (n *Net) NumLayers() int { return len(n.nodes) }

// LayerByName returns the first layer with that name, or nil.
func (n *Net) LayerByName(name string) layers.Layer {
	if i, ok := n.nameIndex[name]; ok {
		return n.nodes[i].layer
	}
	return nil
}

// LayerParam returns layer i's LayerParameter as the net built it (after
// filtering and split insertion, without blobs). Do not modify it.
func (n *Net) LayerParam(i int) *caffepb.LayerParameter { return n.nodes[i].lp }

// BottomBlobs returns layer i's bottom blobs. Do not modify the slice.
func (n *Net) BottomBlobs(i int) []*layers.Blob { return n.nodes[i].bottom }

// TopBlobs returns layer i's top blobs. Do not modify the slice.
func (n *Net) TopBlobs(i int) []*layers.Blob { return n.nodes[i].top }

// LayerNeedsBackward reports whether Backward runs layer i.
func (n *Net) LayerNeedsBackward(i int) bool { return n.nodes[i].needsBackward }

// BottomNeedsBackward reports, per bottom of layer i, whether its gradient
// is computed. Do not modify the slice.
func (n *Net) BottomNeedsBackward(i int) []bool { return n.nodes[i].bottomNeedsBackward }

// Blobs returns every blob of the net (in-place tops counted once), in
// creation order.
func (n *Net) Blobs() []*layers.Blob { return append([]*layers.Blob(nil), n.blobs...) }

// BlobByName returns the blob with that name, or nil.
func (n *Net) BlobByName(name string) *layers.Blob {
	if i, ok := n.blobIndex[name]; ok {
		return n.blobs[i]
	}
	return nil
}

// OutputBlobs are the net's outputs, Caffe's: tops no layer reads, sorted by
// name (as Caffe's std::set orders them, so "Test net output #i" numbers
// match Caffe's).
func (n *Net) OutputBlobs() []*layers.Blob { return n.outputs }

// OutputNames are the names of OutputBlobs.
func (n *Net) OutputNames() []string { return n.outputNames }

// OutputLossWeights are the loss weights of OutputBlobs (0 for non-losses).
func (n *Net) OutputLossWeights() []float32 { return n.outputWeights }

// LearnableParams lists each param storage once (shared params by their
// owner), in the order layers declare them; the solver updates these.
func (n *Net) LearnableParams() []*Param { return n.learnable }

// SetParamsReadyHook sets a function Backward calls after each layer's
// Backward with the params whose gradient no remaining layer will change
// (late layers first). Over one Backward every learnable param is reported
// exactly once, including params of layers that needed no backward. The
// slice is reused: the hook must not keep it. nil removes the hook.
func (n *Net) SetParamsReadyHook(hook func(params []*Param)) { n.hook = hook }

// ClearParamDiffs zeroes the gradient of every learnable param (the solver
// does this once per iteration, before the first Backward).
func (n *Net) ClearParamDiffs() {
	for _, p := range n.learnable {
		p.Blob.ZeroDiff()
	}
}

// DataKeys returns the record keys of the last batch of the first data
// layer that knows them (layers.Keyed), or nil.
func (n *Net) DataKeys() []string {
	for _, nd := range n.nodes {
		if k, ok := nd.layer.(layers.Keyed); ok {
			return k.Keys()
		}
	}
	return nil
}

// BatchSize is the batch of the first data layer (a layer without bottoms):
// its top[0].Num(). 0 when the net has none.
func (n *Net) BatchSize() int {
	for _, nd := range n.nodes {
		if len(nd.bottom) == 0 && len(nd.top) > 0 {
			return nd.top[0].Num()
		}
	}
	return 0
}

// Close closes every layer that holds resources (io.Closer), such as data
// layers with open sources, and returns their errors joined.
func (n *Net) Close() error {
	var errs []error
	for _, nd := range n.nodes {
		if c, ok := nd.layer.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
