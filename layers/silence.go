package layers

import (
	"github.com/cos-project/cos/prototxt/caffepb"
)

func init() {
	Register("Silence", func(p *caffepb.LayerParameter, ctx *Context) (Layer, error) {
		return &Silence{lp: p}, nil
	})
}

// Silence is Caffe's Silence layer: it consumes blobs nobody else uses so
// the net does not report them as outputs. It has no tops; Backward zeroes
// the bottoms' gradients.
type Silence struct {
	lp *caffepb.LayerParameter
}

// Type returns "Silence".
func (l *Silence) Type() string { return "Silence" }

// Params returns nil: Silence has no learnable blobs.
func (l *Silence) Params() []*Blob { return nil }

// Setup checks for at least one bottom and no top.
func (l *Silence) Setup(bottom, top []*Blob) error {
	return checkBlobCounts(l.lp, bottom, top, 1, -1, 0, 0)
}

// Reshape does nothing.
func (l *Silence) Reshape(bottom, top []*Blob) error { return nil }

// Forward does nothing.
func (l *Silence) Forward(bottom, top []*Blob) error { return nil }

// Backward writes zero gradients to the bottoms that ask for one.
func (l *Silence) Backward(top []*Blob, propagateDown []bool, bottom []*Blob) {
	for i, b := range bottom {
		if propagates(propagateDown, i) {
			b.ZeroDiff()
		}
	}
}
