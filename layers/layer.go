package layers

import (
	"math/rand"

	"github.com/cos-project/cos/prototxt/caffepb"
)

// Layer is Caffe's layer contract. The net calls Setup once, then Reshape
// whenever bottom shapes may have changed, then Forward and Backward every
// iteration.
//
// Forward must fill the top blobs from the bottom blobs. Backward must, for
// each bottom i with propagateDown[i], write (not add) the gradient of the
// loss with respect to bottom[i] into bottom[i].Diff, and must accumulate
// (add) parameter gradients into Params()[j].Diff, since the solver zeroes
// them once per iteration and iter_size accumulates across passes.
type Layer interface {
	// Type is Caffe's type string, e.g. "Convolution".
	Type() string
	// Setup checks the bottoms, creates parameters (filled by their fillers
	// unless the layer shares them), and shapes the tops.
	Setup(bottom, top []*Blob) error
	// Reshape shapes the tops and internal buffers for the current bottoms.
	Reshape(bottom, top []*Blob) error
	// Forward computes the tops.
	Forward(bottom, top []*Blob) error
	// Backward computes bottom gradients and accumulates parameter gradients.
	Backward(top []*Blob, propagateDown []bool, bottom []*Blob)
	// Params are the learnable blobs, in Caffe's order (weights, then bias).
	Params() []*Blob
}

// LossLayer is implemented by layers whose top is a loss by default (Caffe
// gives their first top a loss_weight of 1 unless the prototxt says otherwise).
type LossLayer interface {
	Layer
	IsLoss() bool
}

// BottomPropagator is implemented by layers that never propagate to some
// bottoms (e.g. a loss layer's label input), so the net can skip them.
type BottomPropagator interface {
	AllowForceBackward(bottomIndex int) bool
}

// Keyed is implemented by data layers that know which record each sample of
// the last batch came from (its LMDB key), for feature extraction.
type Keyed interface {
	// Keys returns one key per sample of the last Forward; valid until the next.
	Keys() []string
}

// Context carries what a layer needs beyond its own LayerParameter: the
// phase it runs in, a seeded random source (so random_seed makes a run
// reproducible), and how data layers find their records.
type Context struct {
	Phase caffepb.Phase
	// Rand is the net's random source, used by fillers, Dropout and random
	// crops/mirrors. Never nil once the net is built.
	Rand *rand.Rand
	// Sources opens the record stream of a data layer. Data layers do not
	// know LMDB or ranks: the caller (solver, distri) decides which shard.
	Sources SourceOpener
	// Threads is the number of goroutines a layer may use for work the blas
	// package does not parallelise itself (0 means GOMAXPROCS).
	Threads int
}

// Constructor builds a layer from its LayerParameter.
type Constructor func(p *caffepb.LayerParameter, ctx *Context) (Layer, error)
